/** kept-versions: previous versions a failed update could not put back, waiting for the user in .modelmount/kept. */
import { ModelmountError } from '../../errors.ts';
import { keptDir } from '../../layout.ts';
import { shellQuote } from '../../shell.ts';
import { keptOrigin, restoreAdvice } from '../../store/keep-backup.ts';
import { listKept } from '../../store/list-kept.ts';
import { plural, type DoctorContext, type DoctorFinding } from '../check.ts';

export async function checkKeptVersions(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const dir = keptDir(ctx.manifest.hostDir);
  let kept: string[];
  try {
    kept = await listKept(ctx.manifest.hostDir, { signal: ctx.signal });
  } catch (err) {
    if (ctx.signal?.aborted) throw err; // the run was stopped: nothing to report
    // not "nothing kept": what cannot be looked at may be the only copy of a previous version
    const known = err instanceof ModelmountError;
    return [
      {
        id: 'kept-versions',
        verdict: 'warn',
        title: 'The previous versions kept aside could not be listed',
        message: `${known ? err.message : String(err)} ${dir} is where an update keeps a previous version it could not put back; whether any is there is unknown.`,
        // a stall's usual hint (point --host-dir elsewhere) would hide what may be kept there
        fix:
          known && err.code === 'ESTALLED'
            ? `Check the filesystem that holds ${dir} (\`ls -la ${shellQuote(dir)}\`, remount a hung NFS share), then run doctor again; it may hold previous versions a failed update could not put back.`
            : (known && err.hint) || `Check ${dir} (\`ls -la ${shellQuote(dir)}\`), then run doctor again.`,
      },
    ];
  }
  if (kept.length === 0) {
    return [{ id: 'kept-versions', verdict: 'ok', title: 'No previous version is kept aside', message: `${dir} holds no file.` }];
  }
  const shown = kept.slice(0, 5);
  const restore = shown.map((k) => {
    const origin = keptOrigin(ctx.manifest.hostDir, k);
    return 'dest' in origin ? `To restore ${k}, ${restoreAdvice(k, origin.dest)}.` : `${k}: ${origin.why}; move it back by hand.`;
  });
  if (kept.length > shown.length) restore.push(`Likewise for the ${kept.length - shown.length} more (\`find ${shellQuote(dir)} -type f\` lists them).`);
  return [
    {
      id: 'kept-versions',
      verdict: 'warn',
      title: `${plural(kept.length, 'previous version')} kept aside by a failed update`,
      message: `An update could not put ${kept.length === 1 ? 'this file' : 'these files'} back after a failed switch: ${shown.join(', ')}${kept.length > shown.length ? ` and ${kept.length - shown.length} more` : ''}. Each is named <artifact id>/<path>.<UTC time> below ${dir}.`,
      fix: `${restore.join(' ')} Or delete a kept file once it is not needed; modelmount never removes what is in ${dir}.`,
    },
  ];
}
