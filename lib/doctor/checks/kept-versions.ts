/** kept-versions: previous versions a failed update could not put back, waiting for the user in .modelmount/kept. */
import { keptDir } from '../../layout.ts';
import { listKept } from '../../store/keep-backup.ts';
import { plural, type DoctorContext, type DoctorFinding } from '../check.ts';

export async function checkKeptVersions(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const dir = keptDir(ctx.manifest.hostDir);
  const kept = await listKept(ctx.manifest.hostDir);
  if (kept.length === 0) {
    return [{ id: 'kept-versions', verdict: 'ok', title: 'No previous version is kept aside', message: `${dir} holds no file.` }];
  }
  const shown = kept.slice(0, 5).join(', ') + (kept.length > 5 ? ` and ${kept.length - 5} more` : '');
  return [
    {
      id: 'kept-versions',
      verdict: 'warn',
      title: `${plural(kept.length, 'previous version')} kept aside by a failed update`,
      message: `An update could not put ${kept.length === 1 ? 'this file' : 'these files'} back after a failed switch: ${shown}. Each is named <artifact id>/<path>.<UTC time> below ${dir}.`,
      fix: `Restore one with \`mv <kept file> <hostDir>/<artifact id>/<path>\` (after moving away what is there), or delete it; modelmount never removes what is in ${dir}.`,
    },
  ];
}
