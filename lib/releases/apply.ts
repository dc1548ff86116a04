/**
 * Apply the current release set to running services: recreate exactly the services whose running
 * containers mount another set (`compose up -d --no-deps <those>`), wait until their healthcheck
 * (if any) says healthy, smoke-test them; on failure switch back to the set they ran before,
 * rewrite the override, recreate them again and say what happened.
 */
import { commandFor } from '../invocation.ts';
import type { Shell } from 'zx';
import { refuseComposeFileMismatch } from '../compose/compose-file-setting.ts';
import type { ComposeInputs } from '../compose/compose-inputs.ts';
import type { ComposeEngine } from '../compose/engine.ts';
import { ComposeError, ModelmountError, SmokeError, UsageError } from '../errors.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import { composeArgv, composeCwd, describeModelContainers, inspectContainers, inspectServiceContainers, type ModelContainer } from './containers.ts';
import { artifactsOfSet, currentSet, readReleaseRecord, type ReleaseRecord } from './record.ts';
import { switchToSet } from './switch.ts';

export interface RecreateResult {
  services: string[];
  /** why a service is not healthy after recreation (exited, unhealthy, timed out) */
  problems: string[];
}

export interface ApplySteps {
  /** rewrite (and validate) the override for the current set */
  writeOverride(artifacts: Artifact[]): Promise<void>;
  /** smoke-test the listed services with these artifacts; throws SmokeError on failure */
  smoke(artifacts: Artifact[]): Promise<unknown>;
  log(line: string): void;
}

export interface ApplyReport {
  set: string;
  /** services recreated onto `set` */
  recreated: string[];
  /** services already running `set` (left alone) */
  unchanged: string[];
  /** listed services with no running container (not started by apply) */
  notRunning: string[];
  ok: boolean;
  /** on failure: the set switched back to, and the services recreated onto it again */
  rolledBack?: { set: string; recreated: string[]; ok: boolean };
  error?: { code: string; message: string; hint?: string };
}

/** Services with a running container that does not mount the current set. */
export function outdatedServices(containers: readonly ModelContainer[]): string[] {
  return [...new Set(containers.filter((c) => c.running && c.current === false).map((c) => c.service))].sort();
}

/** `compose up -d --no-deps <services>`, then wait for each container's health (or running state). */
export async function recreateServices(manifest: Manifest, engine: Pick<ComposeEngine, 'command'>, sh: Shell, services: string[], signal?: AbortSignal): Promise<RecreateResult> {
  if (!services.length) return { services, problems: [] };
  const up = await sh({ cwd: composeCwd(manifest) })`${[...composeArgv(manifest, engine), 'up', '-d', '--no-deps', ...services]}`;
  if (up.exitCode !== 0) return { services, problems: [`\`compose up -d --no-deps ${services.join(' ')}\` failed: ${(up.stderr || up.stdout).trim().split('\n').slice(-3).join(' ')}`] };
  const timeoutMs = (manifest.smoke?.timeoutSeconds ?? 300) * 1000;
  const problems: string[] = [];
  for (const service of services) {
    const ps = await sh({ cwd: composeCwd(manifest) })`${[...composeArgv(manifest, engine), 'ps', '-q', service]}`;
    const ids = ps.stdout.split(/\s+/).filter(Boolean);
    for (const id of ids) {
      const p = await waitHealthy(sh, id, timeoutMs, signal);
      if (p) problems.push(`${service}: ${p}`);
    }
  }
  return { services, problems };
}

/** Undefined once the container is healthy (or running, without a healthcheck); else why not. */
async function waitHealthy(sh: Shell, id: string, timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const [c] = await inspectContainers(sh, [id]);
    if (!c) return `container ${id.slice(0, 12)} is gone`;
    const health = c.State?.Health?.Status;
    if (!c.State?.Running) return `container ${c.Name.replace(/^\//, '')} is ${c.State?.Status ?? 'not running'}`;
    if (!health || health === 'healthy') return undefined;
    if (health === 'unhealthy') return `container ${c.Name.replace(/^\//, '')} is unhealthy (its healthcheck fails)`;
    if (Date.now() > deadline) return `container ${c.Name.replace(/^\//, '')} was not healthy within ${Math.round(timeoutMs / 1000)} s`;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Recreate the services that run an older set onto the current one, smoke-test, and on failure go
 * back to `fallback` (default: the set those containers ran) and recreate them again.
 */
export async function applyCurrentSet(
  manifest: Manifest,
  engine: Pick<ComposeEngine, 'command'>,
  sh: Shell,
  steps: ApplySteps,
  /**
   * env, cwd, inputs: where COMPOSE_FILE is read (refused when it names other files than compose.files
   * + override); composeFileChecked: the caller refused such a COMPOSE_FILE already (update and
   * rollback --apply, before anything changed)
   */
  opts: { signal?: AbortSignal; fallback?: string; env: NodeJS.ProcessEnv; cwd: string; inputs?: ComposeInputs; composeFileChecked?: boolean },
): Promise<ApplyReport> {
  const record = await readReleaseRecord(manifest.hostDir, manifest.path, { signal: opts.signal });
  const cur = currentSet(record);
  if (!record || !cur) {
    throw new UsageError(`No release set is recorded for ${manifest.path} in ${manifest.hostDir}: nothing to apply.`, {
      code: 'ENORELEASE',
      hint: `Run \`${commandFor('update')}\` first: it makes the releases and writes the override.`,
    });
  }
  // the override mounts the current set (a no-op when update just wrote it)
  await steps.writeOverride(artifactsOfSet(manifest, cur));
  const found = await inspectServiceContainers(manifest, engine, sh, { signal: opts.signal });
  if (found.unchecked) {
    // no containers seen is not "nothing to recreate" when Compose could not say which are the project's
    throw new ComposeError(`Cannot tell which containers run the models: ${found.unchecked}.`, {
      hint: `Fix what Compose reports (\`${commandFor('doctor')}\` checks the Compose files), then run the command again.`,
    });
  }
  const containers = await describeModelContainers(manifest, found.inspected, sh, record);
  const running = containers.filter((c) => c.running);
  const services = outdatedServices(containers);
  const listed = [...new Set(manifest.compose!.services)];
  const report: ApplyReport = {
    set: cur.digest,
    recreated: [],
    unchanged: [...new Set(running.filter((c) => c.current).map((c) => c.service))].filter((s) => !services.includes(s)).sort(),
    notRunning: listed.filter((s) => !running.some((c) => c.service === s)).sort(),
    ok: true,
  };
  if (!services.length) {
    steps.log(`Every running service already runs release set ${cur.digest.slice(0, 12)}: nothing to recreate.`);
    return report;
  }
  // the set to go back to: what the recreated containers ran (by label or mounts), else the next older kept set
  const ran = running.filter((c) => services.includes(c.service)).map((c) => c.set).find((s): s is string => Boolean(s) && s !== cur.digest);
  const fallback = opts.fallback ?? ran ?? record.sets.find((s) => s.digest !== cur.digest)?.digest;
  const artifacts = artifactsOfSet(manifest, cur);
  // `up` gets -f compose.files + override: never a service recreated without a file COMPOSE_FILE gives it
  if (!opts.composeFileChecked) await refuseComposeFileMismatch(manifest, opts, `recreate ${services.join(', ')}`, commandFor('apply'));
  steps.log(`Recreating ${services.join(', ')} on release set ${cur.digest.slice(0, 12)} (compose up -d --no-deps).`);
  const up = await recreateServices(manifest, engine, sh, services, opts.signal);
  report.recreated = services;
  let failure: ModelmountError | undefined = up.problems.length
    ? new SmokeError(`After recreation: ${up.problems.join('; ')}.`, { code: 'EAPPLY_HEALTH', hint: 'See `docker logs` of the container named above.' })
    : undefined;
  if (!failure) {
    try {
      await steps.smoke(artifacts);
    } catch (err) {
      if (!(err instanceof ModelmountError)) throw err;
      failure = err;
    }
  }
  if (!failure) return report;
  report.ok = false;
  report.error = { code: failure.code, message: failure.message, ...(failure.hint ? { hint: failure.hint } : {}) };
  const back = record.sets.find((s) => s.digest === fallback);
  if (opts.signal?.aborted) {
    // interrupted: nothing more is done (no switch back); say where that leaves the services
    steps.log(
      `Interrupted: ${services.join(', ')} ${services.length === 1 ? 'runs' : 'run'} release set ${cur.digest.slice(0, 12)}, not smoke-tested. Run \`${commandFor('smoke')}\` to test it${back ? `, or \`${commandFor('rollback')}\` to go back to ${back.digest.slice(0, 12)}` : ''}.`,
    );
    throw withReport(failure, report);
  }
  if (!back) {
    steps.log(`Release set ${cur.digest.slice(0, 12)} failed (${failure.message.split('\n')[0]}) and no earlier set is kept to go back to.`);
    throw withReport(failure, report);
  }
  steps.log(`Release set ${cur.digest.slice(0, 12)} failed: ${failure.message.split('\n')[0]}`);
  steps.log(`Switching back to release set ${back.digest.slice(0, 12)} and recreating ${services.join(', ')} again.`);
  await switchToSet(manifest, record, back, { signal: opts.signal });
  const backArtifacts = artifactsOfSet(manifest, back);
  await steps.writeOverride(backArtifacts);
  const again = await recreateServices(manifest, engine, sh, services, opts.signal);
  report.rolledBack = { set: back.digest, recreated: services, ok: again.problems.length === 0 };
  if (again.problems.length) steps.log(`After switching back: ${again.problems.join('; ')}`);
  else steps.log(`${services.join(', ')} run release set ${back.digest.slice(0, 12)} again.`);
  throw withReport(failure, report);
}

/** The failure, carrying the apply report for the command's output. */
function withReport(err: ModelmountError, report: ApplyReport): ModelmountError {
  const back = report.rolledBack ? ` Switched back to release set ${report.rolledBack.set.slice(0, 12)}${report.rolledBack.ok ? ', which runs again' : ', which did not come up healthy either'}.` : '';
  return SmokeError.afterApply(err, `${err.message}${back}`, {
    hint: report.rolledBack ? `Fix the models (or the image) and run \`${commandFor('update', '--apply')}\` again; \`${commandFor('status')}\` shows which set each container runs.` : err.hint,
    data: { ...(err.data ?? {}), apply: report },
    cause: err,
  });
}

export type { ReleaseRecord };
