/**
 * compose-file-mismatch: COMPOSE_FILE (the environment, else the project's .env) names other files
 * than compose.files then the override, so a plain `docker compose` reads another set than the one
 * modelmount checks, smoke-tests and recreates with. An error when the config merged from
 * COMPOSE_FILE's list changes a model mount (the mount findings name the file and line), else a warn.
 */
import { describeComposeFileMismatch, onlyOverrideLeftOut } from '../../compose/compose-file-setting.ts';
import { composeFileOnlyProblems, type DoctorContext, type DoctorFinding } from '../check.ts';

export function checkComposeFileMismatch(ctx: DoctorContext): DoctorFinding[] {
  const id = 'compose-file-mismatch';
  const cf = ctx.composeFile;
  const m = cf?.mismatch;
  // COMPOSE_FILE without the override (and nothing else different) is override-not-included's to report
  const withoutOverride = m !== undefined && onlyOverrideLeftOut(m, ctx.compose);
  if (!cf || !m || withoutOverride) {
    return [{
      id,
      verdict: 'ok',
      title: 'COMPOSE_FILE names the Compose files modelmount uses',
      message: cf ? `${cf.setting.from} lists compose.files${withoutOverride ? '' : ', then the override'}, in order.` : 'COMPOSE_FILE is not set (neither in the environment nor in the project\'s .env).',
    }];
  }
  const { message, fix } = describeComposeFileMismatch(m, ctx.manifest, ctx.cwd);
  const where = cf.setting.envFile ? { file: cf.setting.envFile } : {};
  const changed = composeFileOnlyProblems(ctx);
  if (changed.length) {
    return [{ id, verdict: 'error', title: 'COMPOSE_FILE changes the model mounts', ...where, message: `${message} With COMPOSE_FILE's files, Compose does not give the services the verified models (${[...new Set(changed.map((p) => `${p.artifactId} in ${p.service}`))].join(', ')}): the mount findings name the file and line.`, fix }];
  }
  const unchecked = m.afterOverride.length && !cf.checked ? ` Whether they replace a model mount was not checked: ${cf.unavailable ?? 'no Compose to merge them'}.` : '';
  return [{ id, verdict: 'warn', title: 'COMPOSE_FILE names other Compose files than the manifest', ...where, message: `${message}${unchecked}`, fix }];
}
