/** mount-source-missing / -empty / -unverified / -invalid: the host folders the override mounts. */
import { commandFor } from '../../invocation.ts';
import { plural, type DoctorContext, type DoctorFinding } from '../check.ts';

export function checkMountSourceFindings(ctx: DoctorContext): DoctorFinding[] {
  const findings: DoctorFinding[] = [];
  for (const s of ctx.sources) {
    const fix = `Run \`${commandFor('update')}\` to install the verified files of ${s.artifactId}.`;
    switch (s.state) {
      case 'ok':
        break;
      case 'missing':
        findings.push({ id: 'mount-source-missing', verdict: 'error', title: `${s.artifactId} is not on the host`, file: s.source, message: `${s.message} Docker would create it as an empty root-owned folder and mount that.`, fix });
        break;
      case 'empty':
        findings.push({ id: 'mount-source-empty', verdict: 'error', title: `${s.artifactId}'s host folder is empty`, file: s.source, message: `${s.message} The container would see an empty model folder.`, fix });
        break;
      case 'symlink':
      case 'not-directory':
        findings.push({ id: 'mount-source-invalid', verdict: 'error', title: `${s.artifactId}'s host folder is not a real folder`, file: s.source, message: s.message, fix: `Remove ${s.source} and run \`${commandFor('update')}\`.` });
        break;
      case 'unverified':
        findings.push({ id: 'mount-source-unverified', verdict: 'error', title: `${s.artifactId}'s host folder does not hold the verified files`, file: s.badFiles[0]?.hostPath ?? s.source, message: s.message, fix: `${fix} It repairs files that do not match the manifest.` });
        break;
    }
  }
  if (findings.length === 0) {
    findings.push({ id: 'mount-source-unverified', verdict: 'ok', title: 'Every mount source holds the verified files', message: `${plural(ctx.sources.length, 'artifact folder')} under ${ctx.manifest.hostDir} exist, are real folders and match the manifest.` });
  }
  return findings;
}
