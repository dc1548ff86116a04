/**
 * Rollback: make the previous kept release set current again (or `to`), with no network: the
 * releases are already on disk. Brings `<hostDir>/<artifact id>` back to that set's files,
 * rewrites the override, then smoke-tests (or, with apply, recreates the services whose mounts
 * changed and smoke-tests them). Prints its report; returns the exit status.
 */
import { composeInputs } from '../compose/compose-inputs.ts';
import { ModelmountError, UsageError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import type { Io } from '../io.ts';
import { withRunLock } from '../lock/run-lock.ts';
import { loadRunContext, type ContextOptions } from '../run-context.ts';
import { runLockDirs, runLockOptions } from '../lock/run-lock-options.ts';
import { findSmokeEngine } from '../smoke/engine.ts';
import { formatSmoke } from '../smoke/format-smoke.ts';
import { formatFailure } from '../ui/format.ts';
import { composeStep, smokeStep } from './compose-steps.ts';
import { artifactsOfSet, readReleaseRecord, rollbackTarget } from './record.ts';
import { formatApply, outdatedNotice, refuseApplyComposeFiles, runApply } from './run-apply.ts';
import { switchToSet } from './switch.ts';

export interface RollbackOptions extends ContextOptions {
  /** the release set to return to (a digest or a unique prefix); default the previous one */
  to?: string;
  apply?: boolean;
  /** false: no smoke test */
  smoke?: boolean;
  full?: boolean;
  wait?: boolean;
}

export async function runRollback(opts: RollbackOptions, io: Io, signal: AbortSignal): Promise<number> {
  const ctx = await loadRunContext(opts, io, signal, 'host');
  const { manifest } = ctx;
  if (!manifest.compose) throw new UsageError(`${manifest.path} has no \`compose:\` section: releases are made for the Compose override only.`, { code: 'ENOCOMPOSE', hint: 'Add a `compose:` section (see the README).' });
  return withRunLock(runLockDirs(io.env, [{ dir: ctx.hostDir, folder: 'host' }]), runLockOptions(opts, ctx, 'rollback', signal), async (locked) => {
    const record = await readReleaseRecord(ctx.hostDir, manifest.path, { signal: locked });
    const kept = (record?.sets ?? []).map((s) => `${s.digest.slice(0, 12)} (${s.createdAt}${s.digest === record?.current ? ', current' : ''})`);
    const target = record && rollbackTarget(record, opts.to);
    if (!record || !target) {
      throw new UsageError(opts.to ? `No kept release set matches ${String(opts.to)} (exactly one must).` : 'There is no earlier release set to return to.', {
        code: 'ENOROLLBACK',
        hint: kept.length ? `Kept sets, newest first: ${kept.join('; ')}. Use --to <digest>.` : `Run \`${commandFor('update')}\` first: it makes the releases.`,
      });
    }
    const from = record.current;
    // the Compose files and .env, read once for the whole run
    const inputs = composeInputs({ signal: locked });
    if (opts.apply) await refuseApplyComposeFiles(manifest, io, 'rollback', inputs);
    if (target.digest !== from) await switchToSet(manifest, record, target, { signal: locked });
    const artifacts = artifactsOfSet(manifest, target);
    const found = await findSmokeEngine({ env: io.env, cwd: io.cwd });
    const out: Record<string, unknown> = { command: 'rollback', from, to: target.digest };
    let exitCode = 0;
    try {
      out.compose = await composeStep(manifest, artifacts, { env: io.env, cwd: io.cwd, signal: locked, jobs: ctx.jobs, found, inputs });
      ctx.log(`Release set ${target.digest.slice(0, 12)} is current again (was ${from.slice(0, 12)}); ${manifest.compose!.override} mounts it.`);
      if (opts.apply) {
        const applied = await runApply(ctx, opts, io, locked, { found, inputs, composeFileChecked: true });
        out.apply = applied.report;
        exitCode = applied.exitCode;
        if (!ctx.json && applied.report) io.stdout.write(formatApply(applied.report));
      } else {
        if (opts.smoke !== false) {
          const s = await smokeStep(manifest, artifacts, { env: io.env, cwd: io.cwd, full: Boolean(opts.full), signal: locked, optional: true, found, inputs, onStep: ctx.json ? undefined : (m) => ctx.log(`  ${m}`) });
          out.smoke = s.report ?? { skipped: s.skipped };
          if (s.report && !ctx.json) io.stdout.write(formatSmoke(s.report));
        }
        for (const line of await outdatedNotice(manifest, found.engine, io, locked)) ctx.log(line);
      }
    } catch (err) {
      if (!(err instanceof ModelmountError)) throw err;
      if (err.data?.report) out.smoke = err.data.report;
      out.error = { code: err.code, message: err.message, hint: err.hint };
      if (!ctx.json && err.data?.report) io.stdout.write(formatSmoke(err.data.report as never));
      // on stderr in every mode (--json too), as update's failures
      io.stderr.write(formatFailure(err));
      exitCode = err.exitCode;
    }
    if (ctx.json) io.stdout.write(`${JSON.stringify({ ...out, ok: exitCode === 0 }, null, 2)}\n`);
    return exitCode;
  });
}
