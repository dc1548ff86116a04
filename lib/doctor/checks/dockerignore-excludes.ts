/** dockerignore-excludes-artifacts: an artifact kept out of the image must come in through a mount. */
import path from 'node:path';
import { findCoveringMount } from '../../compose/check-merged-mounts.ts';
import { containerPathOf } from '../../layout.ts';
import { OUTAGE_SYMPTOM, updateFix, type DoctorContext, type DoctorFinding } from '../check.ts';

export function checkDockerignore(ctx: DoctorContext): DoctorFinding[] {
  const findings: DoctorFinding[] = [];
  const id = 'dockerignore-excludes-artifacts';
  for (const bc of ctx.ignoreVerdicts) {
    if (!bc.exists) {
      findings.push({ id, verdict: 'ok', title: `No ${path.basename(bc.ignoreFile)} in the build context`, file: bc.ignoreFile, message: `${bc.dir} has no ${path.basename(bc.ignoreFile)}: nothing is excluded from the image by it.` });
      continue;
    }
    for (const { artifact: a, match } of bc.excluded) {
      const target = containerPathOf(ctx.compose.containerDir, a.id);
      const why = `${a.id} (${match.path}) is excluded from the build context by ${path.basename(bc.ignoreFile)}${match.line ? ` line ${match.line} (\`${match.pattern}\`)` : ''}, so the image does not contain it`;
      if (!ctx.merged) {
        findings.push({
          id,
          verdict: 'warn',
          title: `${a.id} is excluded from the image; whether a mount provides it was not checked`,
          file: bc.ignoreFile,
          line: match.line,
          message: `${why}. Without Compose, modelmount could not check that a read-only mount provides it at ${target} (skipped, see compose-engine-missing).`,
          fix: 'Install Docker Compose (or set MODELS_COMPOSE) and run doctor again.',
        });
        continue;
      }
      const uncovered = bc.services.filter((s) => {
        const svc = ctx.merged!.get(s);
        const cover = svc && findCoveringMount(svc.mounts, target);
        return !cover || cover.mount.type !== 'bind';
      });
      if (uncovered.length > 0) {
        findings.push({
          id,
          verdict: 'error',
          title: `${a.id} is excluded by .dockerignore AND not mounted: the container will start without it`,
          file: bc.ignoreFile,
          line: match.line,
          message: `${why}, and no Compose volume mounts it read-only at ${target} in ${uncovered.join(', ')}. This is the outage modelmount exists to prevent: the app finds no model at start-up (e.g. \`${OUTAGE_SYMPTOM}\`).`,
          fix: updateFix(ctx),
        });
      } else {
        findings.push({
          id,
          verdict: 'ok',
          title: `${a.id} is excluded from the image and mounted instead`,
          file: bc.ignoreFile,
          line: match.line,
          message: `${why}; the merged Compose config mounts it at ${target} in ${bc.services.join(', ')} (that is intended: models stay out of images).`,
        });
      }
    }
    if (bc.excluded.length === 0) {
      findings.push({ id, verdict: 'ok', title: `${path.basename(bc.ignoreFile)} excludes no artifact`, file: bc.ignoreFile, message: `No selected artifact is excluded from ${bc.dir} by ${bc.ignoreFile}.` });
    }
  }
  return findings;
}
