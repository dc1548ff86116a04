/**
 * `modelmount apply`: move running services onto the current release set (recreate exactly the
 * services whose mounts changed, wait for health, smoke-test, switch back on failure).
 * Also what `update --apply` and `rollback --apply` run, and the "still on an older release"
 * notice of `update` and `rollback` without --apply.
 */
import { commandFor } from '../invocation.ts';
import type { Shell } from 'zx';
import type { FlagSpec, ParsedFlags } from '../cli/args.ts';
import type { CommandSpec } from '../cli/command.ts';
import type { ComposeEngine } from '../compose/engine.ts';
import { ModelmountError, SmokeError } from '../errors.ts';
import type { Manifest } from '../manifest/schema.ts';
import { applyCurrentSet, outdatedServices, type ApplyReport } from '../releases/apply.ts';
import { listModelContainers } from '../releases/containers.ts';
import { currentSet, readReleaseRecord } from '../releases/record.ts';
import { loadShell } from '../shell.ts';
import { findSmokeEngine, type SmokeEngine } from '../smoke/engine.ts';
import { formatFailure } from '../ui/format.ts';
import { composeStep, smokeStep } from './compose-steps.ts';
import { loadContext, type CommandContext, type Io } from './context.ts';
import { runLockDirs, runLockOptions } from './run-lock.ts';
import { formatSmoke } from './smoke-command.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, WAIT_FLAG } from './specs.ts';
import { withRunLock } from '../lock/run-lock.ts';

export const APPLY_FLAG = {
  name: 'apply',
  type: 'boolean',
  env: 'MODELS_APPLY',
  help: 'recreate the running services whose model mounts changed (compose up -d --no-deps), smoke-test, switch back on failure',
} as const satisfies FlagSpec;


async function dockerShell(io: Io): Promise<Shell> {
  return (await loadShell())({ quiet: true, nothrow: true, env: io.env, cwd: io.cwd });
}

/** Run apply for the current set; prints progress on stderr (stdout stays for --json). */
export async function runApply(
  ctx: CommandContext,
  flags: ParsedFlags,
  io: Io,
  signal: AbortSignal,
  opts: { found?: SmokeEngine } = {},
): Promise<{ exitCode: number; report?: ApplyReport; error?: ModelmountError }> {
  const found = opts.found ?? (await findSmokeEngine({ env: io.env, cwd: io.cwd }));
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
        await composeStep(ctx.manifest, artifacts, { env: io.env, cwd: io.cwd, jobs: ctx.jobs, found, force: false });
      },
      smoke: async (artifacts) => {
        const s = await smokeStep(ctx.manifest, artifacts, { env: io.env, cwd: io.cwd, full: Boolean(flags.full), signal, optional: false, found, onStep: ctx.json ? undefined : (m) => say(`  ${m}`) });
        if (s.report && !ctx.json) io.stdout.write(formatSmoke(s.report));
        return s.report;
      },
    }, { signal });
    return { exitCode: 0, report };
  } catch (err) {
    if (!(err instanceof ModelmountError)) throw err;
    const report = err.data?.apply as ApplyReport | undefined;
    if (!ctx.json) io.stderr.write(formatFailure(err));
    return { exitCode: err.exitCode, ...(report ? { report } : {}), error: err };
  }
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
export async function outdatedNotice(manifest: Manifest, engine: Pick<ComposeEngine, 'command'> | undefined, io: Io): Promise<string[]> {
  if (!engine || !manifest.compose) return [];
  const record = await readReleaseRecord(manifest.hostDir, manifest.path);
  const cur = currentSet(record);
  if (!cur) return [];
  const containers = await listModelContainers(manifest, engine, await dockerShell(io), record);
  const services = outdatedServices(containers);
  if (!services.length) return [];
  const olds = [...new Set(containers.filter((c) => services.includes(c.service) && c.running).map((c) => (c.set ? c.set.slice(0, 12) : 'unknown')))];
  return [
    `Still on an older release set (${olds.join(', ')}; current ${cur.digest.slice(0, 12)}): ${services.join(', ')}. They keep their models until recreated.`,
    `  Move them with: ${commandFor('apply')}   (recreates only those services, smoke-tests, switches back on failure)`,
  ];
}

export const applyCommand: CommandSpec = {
  name: 'apply',
  summary: 'recreate the running services whose model mounts changed, smoke-test them, switch back on failure',
  usage: 'modelmount apply [--full] [--json]',
  flags: [{ name: 'full', type: 'boolean', help: 'smoke test: also compare sha256 inside the container' }, ...pickFlags(LOCATION_FLAGS, 'host-dir', 'jobs'), WAIT_FLAG, JSON_FLAG],
  details: `Runs \`compose up -d --no-deps <services>\` for exactly the services whose running containers
mount another release set than the current one, waits for their healthcheck, runs the smoke test,
and on failure switches back to the set they ran before, rewrites the override and recreates them
again. Exit 8 when the smoke test (or health) failed.`,
  async run(flags, io, signal) {
    const ctx = await loadContext(flags, io);
    const out = await withRunLock(runLockDirs(io.env, [ctx.hostDir]), runLockOptions(flags, ctx, 'apply', signal), (locked) => runApply(ctx, flags, io, locked));
    if (ctx.json) {
      const error = out.error ? { code: out.error.code, message: out.error.message, hint: out.error.hint } : undefined;
      io.stdout.write(`${JSON.stringify({ command: 'apply', ok: out.exitCode === 0, ...(out.report ?? {}), ...(error ? { error } : {}) }, null, 2)}\n`);
    } else if (out.report) io.stdout.write(formatApply(out.report));
    return out.exitCode;
  },
};
