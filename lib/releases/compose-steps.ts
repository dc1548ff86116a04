/**
 * The Compose half of the job, shared by `compose`, `smoke`, `update` and
 * `bootstrap`: write + validate the override, run the smoke test. Each returns
 * a JSON-ready report and throws ComposeError (exit 7) / SmokeError (exit 8).
 */
import { loadShell } from '../shell.ts';
import { validateMergedConfig } from '../compose/check-merged-mounts.ts';
import type { ComposeInputs } from '../compose/compose-inputs.ts';
import { composeInvocation } from '../compose/invocation.ts';
import { composeSettingsOf } from '../compose/override.ts';
import { writeComposeOverride } from '../compose/write-override.ts';
import { SmokeError } from '../errors.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import { runSmoke } from '../smoke/run-smoke.ts';
import type { SmokeReport } from '../smoke/report.ts';
import { findSmokeEngine, type SmokeEngine } from '../smoke/engine.ts';
import { currentReleaseMounts } from './record.ts';

export interface ComposeStepReport {
  override: string;
  changed: boolean;
  /** merged config checked with the real engine */
  validated: boolean;
  /** why it was not validated */
  skipped?: string;
  engine?: { version: string; command: string[]; fullVersion: string };
  commandLine: string;
  composeFile: string;
}


/**
 * Write the override (refusing a foreign file), then validate the merged config when an engine
 * exists. `signal`: the run's (Ctrl+C, a lost run lock) ends the check of the mount sources at once.
 * `inputs`: the run's reads of the Compose files and .env (compose-inputs.ts), shared with its other steps.
 */
export async function composeStep(
  manifest: Manifest,
  artifacts: Artifact[],
  opts: { env: NodeJS.ProcessEnv; cwd: string; signal: AbortSignal; force?: boolean; jobs?: number; found?: SmokeEngine; inputs?: ComposeInputs },
): Promise<ComposeStepReport> {
  composeSettingsOf(manifest);
  // each artifact is mounted from its current immutable release when it has one (lib/releases/)
  const releases = await currentReleaseMounts(manifest, artifacts, { signal: opts.signal });
  const written = await writeComposeOverride(manifest, artifacts, { force: opts.force, jobs: opts.jobs, releases, signal: opts.signal });
  // `config` needs only the Compose binary, not a running engine
  const found = opts.found ?? (await findSmokeEngine({ env: opts.env, cwd: opts.cwd }));
  const engine = found.compose;
  const skipped = engine ? undefined : found.reason;
  if (engine) await validateMergedConfig(manifest, artifacts, { engine, $: (await loadShell())({ env: opts.env }), env: opts.env, releases, signal: opts.signal, inputs: opts.inputs });
  const inv = composeInvocation(manifest, engine, { cwd: opts.cwd });
  return {
    override: written.path,
    changed: written.changed,
    validated: Boolean(engine),
    ...(skipped ? { skipped: `merged config not validated: ${skipped}` } : {}),
    ...(engine ? { engine: { version: engine.version, command: engine.command, fullVersion: engine.fullVersion } } : {}),
    commandLine: inv.commandLine,
    composeFile: inv.composeFile,
  };
}

export interface SmokeStepResult {
  report?: SmokeReport;
  skipped?: string;
}

/** Run the smoke test; when `optional`, a missing engine skips it (with the reason) instead of failing. */
export async function smokeStep(
  manifest: Manifest,
  artifacts: Artifact[],
  opts: {
    env: NodeJS.ProcessEnv;
    cwd: string;
    full?: boolean;
    signal?: AbortSignal;
    optional: boolean;
    onStep?: (msg: string) => void;
    found?: SmokeEngine;
    inputs?: ComposeInputs;
  },
): Promise<SmokeStepResult> {
  composeSettingsOf(manifest);
  const found = opts.found ?? (await findSmokeEngine({ env: opts.env, cwd: opts.cwd }));
  if (!found.engine) {
    if (opts.optional) return { skipped: `smoke test skipped: ${found.reason}` };
    throw new SmokeError(`Cannot smoke-test: ${found.reason}.`, {
      code: 'ENOENGINE',
      hint: 'Start Docker (`docker info` must work) and install Compose v2 (`docker compose`) or v1 (`docker-compose`).',
    });
  }
  const report = await runSmoke(manifest, artifacts, { engine: found.engine, full: opts.full, signal: opts.signal, onStep: opts.onStep, $: (await loadShell())({ env: opts.env }), env: opts.env, inputs: opts.inputs });
  return { report };
}
