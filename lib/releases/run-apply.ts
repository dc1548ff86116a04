/**
 * Apply's run and report: move running services onto the current release set (recreate exactly
 * the services whose mounts changed, wait for health, smoke-test, switch back on failure). What
 * `apply`, `update --apply` and `rollback --apply` run, and the "still on an older release"
 * notice of `update` and `rollback` without --apply.
 */
import type { Shell } from 'zx';
import { refuseComposeFileMismatch } from '../compose/compose-file-setting.ts';
import { composeInputs, type ComposeInputs } from '../compose/compose-inputs.ts';
import type { ComposeEngine } from '../compose/engine.ts';
import { ModelmountError, SmokeError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import type { Io } from '../io.ts';
import type { Manifest } from '../manifest/schema.ts';
import type { RunContext } from '../run-context.ts';
import { loadShell } from '../shell.ts';
import { findSmokeEngine, type SmokeEngine } from '../smoke/engine.ts';
import { formatSmoke } from '../smoke/format-smoke.ts';
import { formatFailure } from '../ui/format.ts';
import { composeStep, smokeStep } from './compose-steps.ts';
import { applyCurrentSet, outdatedServices, type ApplyReport } from './apply.ts';
import { listModelContainers } from './containers.ts';
import { currentSet, readReleaseRecord } from './record.ts';

async function dockerShell(io: Io): Promise<Shell> {
  return (await loadShell())({ quiet: true, nothrow: true, env: io.env, cwd: io.cwd });
}

/** Run apply for the current set; prints progress and its failure on stderr (stdout stays for --json). */
export async function runApply(
  ctx: RunContext,
  /** smoke test: also compare sha256 inside the container */
  opts: { full?: boolean },
  io: Io,
  signal: AbortSignal,
  /**
   * what the caller already found out about Docker and Compose, its reads of the Compose files and
   * .env, and whether it refused a COMPOSE_FILE apply would refuse (refuseApplyComposeFiles)
   */
  known: { found?: SmokeEngine; inputs?: ComposeInputs; composeFileChecked?: boolean } = {},
): Promise<{ exitCode: number; report?: ApplyReport; error?: ModelmountError }> {
  const found = known.found ?? (await findSmokeEngine({ env: io.env, cwd: io.cwd }));
  const inputs = known.inputs ?? composeInputs({ signal });
  if (!found.engine) {
    throw new SmokeError(`Cannot apply: ${found.reason}.`, {
      code: 'ENOENGINE',
      hint: 'Start Docker (`docker info` must work) and install Compose v2 (`docker compose`) or v1 (`docker-compose`).',
    });
  }
  const engine = found.engine;
  const sh = await dockerShell(io);
  const say = (line: string) => ctx.log(line);
  try {
    const report = await applyCurrentSet(ctx.manifest, engine, sh, {
      log: say,
      writeOverride: async (artifacts) => {
        await composeStep(ctx.manifest, artifacts, { env: io.env, cwd: io.cwd, signal, jobs: ctx.jobs, found, force: false, inputs });
      },
      smoke: async (artifacts) => {
        const s = await smokeStep(ctx.manifest, artifacts, { env: io.env, cwd: io.cwd, full: Boolean(opts.full), signal, optional: false, found, inputs, onStep: ctx.json ? undefined : (m) => say(`  ${m}`) });
        if (s.report && !ctx.json) io.stdout.write(formatSmoke(s.report));
        return s.report;
      },
    }, { signal, env: io.env, cwd: io.cwd, inputs, composeFileChecked: known.composeFileChecked });
    return { exitCode: 0, report };
  } catch (err) {
    if (!(err instanceof ModelmountError)) throw err;
    const report = err.data?.apply as ApplyReport | undefined;
    // on stderr in every mode (--json too): stdout holds the document
    io.stderr.write(formatFailure(err));
    return { exitCode: err.exitCode, ...(report ? { report } : {}), error: err };
  }
}

/**
 * `update --apply` and `rollback --apply`: refused (ECOMPOSE_FILES, exit 7) before the release set
 * is switched or the override written when COMPOSE_FILE names other files than compose.files then
 * the override, by apply's rule, whether or not a service would be recreated: a refusal leaves the
 * record, the override and the containers as they were. runApply is then told not to check again.
 */
export async function refuseApplyComposeFiles(manifest: Manifest, io: Pick<Io, 'env' | 'cwd'>, command: 'update' | 'rollback', inputs: ComposeInputs): Promise<void> {
  if (!manifest.compose) return;
  const services = [...new Set(manifest.compose.services)].join(', ');
  await refuseComposeFileMismatch(manifest, { env: io.env, cwd: io.cwd, inputs }, `recreate ${services} (${command} --apply)`, commandFor(command, '--apply'));
}

export function formatApply(report: ApplyReport): string {
  const lines = [
    `${report.ok ? 'OK' : 'FAILED'}: release set ${report.set.slice(0, 12)}${report.recreated.length ? `; recreated ${report.recreated.join(', ')}` : '; nothing recreated'}${report.unchanged.length ? `; already on it: ${report.unchanged.join(', ')}` : ''}${report.notRunning.length ? `; not running: ${report.notRunning.join(', ')}` : ''}.`,
  ];
  if (report.rolledBack) lines.push(`Switched back to release set ${report.rolledBack.set.slice(0, 12)} and recreated ${report.rolledBack.recreated.join(', ')}${report.rolledBack.ok ? '' : ' (not healthy either)'}.`);
  return `${lines.join('\n')}\n`;
}

/**
 * Without --apply: which running services still use another release set, and the command that
 * moves them. Empty when Docker is not reachable or every running service is current.
 */
export async function outdatedNotice(manifest: Manifest, engine: Pick<ComposeEngine, 'command'> | undefined, io: Io, signal: AbortSignal): Promise<string[]> {
  if (!engine || !manifest.compose) return [];
  const record = await readReleaseRecord(manifest.hostDir, manifest.path, { signal });
  const cur = currentSet(record);
  if (!cur) return [];
  const containers = await listModelContainers(manifest, engine, await dockerShell(io), record, { signal });
  const services = outdatedServices(containers);
  if (!services.length) return [];
  const olds = [...new Set(containers.filter((c) => services.includes(c.service) && c.running).map((c) => (c.set ? c.set.slice(0, 12) : 'unknown')))];
  return [
    `Still on an older release set (${olds.join(', ')}; current ${cur.digest.slice(0, 12)}): ${services.join(', ')}. They keep their models until recreated.`,
    `  Move them with: ${commandFor('apply')}   (recreates only those services, smoke-tests, switches back on failure)`,
  ];
}
