/** After a successful install: write and validate the Compose override, then smoke-test the container (or, with apply, recreate the services). */
import { composeInputs, type ComposeInputs } from '../compose/compose-inputs.ts';
import { ModelmountError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import type { Io } from '../io.ts';
import { withRunLock } from '../lock/run-lock.ts';
import type { Artifact } from '../manifest/schema.ts';
import type { ApplyReport } from '../releases/apply.ts';
import { formatApply, outdatedNotice, runApply } from '../releases/run-apply.ts';
import { runLockDirs, runLockOptions } from '../lock/run-lock-options.ts';
import { findSmokeEngine, type SmokeEngine } from '../smoke/engine.ts';
import { formatSmoke } from '../smoke/format-smoke.ts';
import type { SmokeReport } from '../smoke/report.ts';
import { formatFailure } from '../ui/format.ts';
import { composeStep, smokeStep, type ComposeStepReport } from '../releases/compose-steps.ts';
import { readInstalledIds } from './installed-set.ts';
import type { UpdateOutcome } from './run-update.ts';

/** --compose, --smoke, --full, --apply, --wait */
export interface PostInstallOptions {
  /** false: no override written, no smoke test */
  compose: boolean;
  smoke: boolean;
  /** smoke test: also compare sha256 inside the container */
  full?: boolean;
  /** recreate the running services whose mounts changed */
  apply?: boolean;
  wait?: boolean;
}

/** A step that failed without a report of its own, or was not run because an earlier one failed: that failure's code. */
export type StepFailed = { failed: string };
export type StepNotRun = { notRun: string };

export interface PostInstallReport {
  compose: ComposeStepReport | { skipped: string } | StepFailed;
  smoke: SmokeReport | { skipped: string } | StepFailed | StepNotRun;
  /** update --apply: the services recreated on the new release set (lib/releases/apply.ts) */
  apply?: ApplyReport | StepFailed | StepNotRun;
}

type Step = 'compose' | 'apply' | 'smoke';

/**
 * The document after `err` stopped the run in `step`: that step holds its report (apply's, or
 * the smoke report a failed smoke test carries) or `failed: CODE`, the later steps `notRun: CODE`.
 */
function settleSteps(report: PostInstallReport, err: ModelmountError, step: Step, apply: boolean): void {
  const smokeReport = err.data?.report as SmokeReport | undefined;
  const failed = { failed: err.code };
  const notRun = { notRun: err.code };
  if (step === 'compose') report.compose = failed;
  if (apply && step !== 'smoke') report.apply = step === 'apply' ? ((err.data?.apply as ApplyReport | undefined) ?? failed) : notRun;
  report.smoke = smokeReport ?? (step === 'smoke' ? failed : notRun);
}

export async function afterInstall(
  outcome: UpdateOutcome,
  opts: PostInstallOptions,
  io: Io,
  signal: AbortSignal,
  /**
   * what the caller already knows: Docker and Compose (bootstrap asks once per run), its reads of
   * the Compose files and .env, and whether it refused a COMPOSE_FILE apply would refuse (update --apply)
   */
  known: { found?: SmokeEngine; inputs?: ComposeInputs; composeFileChecked?: boolean } = {},
): Promise<{ exitCode: number; report: PostInstallReport; error?: ModelmountError }> {
  const { ctx, selection } = outcome;
  const say = (line: string): void => {
    if (!ctx.json) io.stdout.write(`${line}\n`);
  };
  const report: PostInstallReport = { compose: { skipped: '' }, smoke: { skipped: '' } };
  if (!ctx.manifest.compose) {
    report.compose = report.smoke = { skipped: 'the manifest has no compose: section' };
    return { exitCode: 0, report };
  }
  if (!opts.compose) {
    report.compose = report.smoke = { skipped: '--no-compose' };
    say('Compose override not written (--no-compose); smoke test skipped.');
    return { exitCode: 0, report };
  }
  let step: Step = 'compose';
  /** `err` stopped the run in `step`; `onStderr`: it is already there */
  const fail = (err: ModelmountError, onStderr = false) => {
    settleSteps(report, err, step, Boolean(opts.apply));
    if (step === 'smoke' && err.data?.report && !ctx.json) io.stdout.write(formatSmoke(report.smoke as SmokeReport));
    // errors go to stderr in every mode (--json and --quiet too), as the task list's do
    if (!onStderr) io.stderr.write(formatFailure(err));
    return { exitCode: err.exitCode, report, error: err };
  };
  try {
    const found = known.found ?? (await findSmokeEngine({ env: io.env, cwd: io.cwd }));
    const inputs = known.inputs ?? composeInputs({ signal });
    // the override mounts the installed set as recorded now, written under the run lock: when two
    // updates overlap, the last one to write it writes the newest record, so no artifact drops out
    let artifacts: Artifact[] = selection.artifacts;
    const c = await withRunLock(runLockDirs(io.env, [{ dir: ctx.hostDir, folder: 'host' }]), runLockOptions(opts, ctx, 'update', signal), async (locked) => {
      const installed = new Set(await readInstalledIds(ctx, { signal: locked }));
      if (installed.size) artifacts = ctx.manifest.artifacts.filter((a) => installed.has(a.id));
      return composeStep(ctx.manifest, artifacts, { env: io.env, cwd: io.cwd, signal: locked, jobs: ctx.jobs, found, inputs });
    });
    report.compose = c;
    say(`${c.changed ? 'Wrote' : 'Unchanged:'} ${c.override}${c.validated ? `, validated with ${c.engine!.command.join(' ')} ${c.engine!.fullVersion}` : ` (${c.skipped})`}.`);
    say(`  Use it with: ${c.commandLine} up   (${commandFor('compose', '--print')} for other ways)`);
    if (opts.apply) {
      step = 'apply';
      const applied = await withRunLock(runLockDirs(io.env, [{ dir: ctx.hostDir, folder: 'host' }]), runLockOptions(opts, ctx, 'update --apply', signal), (locked) => runApply(ctx, opts, io, locked, { found, inputs, composeFileChecked: known.composeFileChecked }));
      if (applied.report) {
        report.apply = applied.report;
        if (!ctx.json) io.stdout.write(formatApply(applied.report));
      }
      if (applied.error) return fail(applied.error, true); // runApply wrote it on stderr
      // apply smoke-tested what it recreated; with nothing recreated the plain smoke test runs below
      if (applied.report?.recreated.length) {
        report.smoke = { skipped: 'smoke-tested by --apply' };
        return { exitCode: 0, report };
      }
    }
    step = 'smoke';
    if (!opts.smoke) {
      report.smoke = { skipped: '--no-smoke' };
      say('Smoke test skipped (--no-smoke).');
      return { exitCode: 0, report };
    }
    const s = await smokeStep(ctx.manifest, artifacts, {
      env: io.env,
      cwd: io.cwd,
      full: Boolean(opts.full),
      signal,
      optional: true,
      found,
      inputs,
      onStep: ctx.json ? undefined : (m) => ctx.log(`  ${m}`),
    });
    if (s.report) {
      report.smoke = s.report;
      if (!ctx.json) io.stdout.write(formatSmoke(s.report));
      if (!opts.apply) for (const line of await outdatedNotice(ctx.manifest, found.engine, io, signal)) ctx.log(line);
    } else {
      report.smoke = { skipped: s.skipped! };
      say(`${s.skipped} — run \`${commandFor('smoke')}\` where Docker runs.`);
    }
    return { exitCode: 0, report };
  } catch (err) {
    if (!(err instanceof ModelmountError)) throw err;
    return fail(err);
  }
}
