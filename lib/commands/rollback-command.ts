/**
 * `modelmount rollback`: make the previous kept release set current again (or `--to <digest>`),
 * with no network: the releases are already on disk. Brings `<hostDir>/<artifact id>` back to that
 * set's files, rewrites the override, then smoke-tests (or, with --apply, recreates the services
 * whose mounts changed and smoke-tests them).
 */
import { commandFor } from '../invocation.ts';
import type { CommandSpec } from '../cli/command.ts';
import { ModelmountError, UsageError } from '../errors.ts';
import { withRunLock } from '../lock/run-lock.ts';
import { artifactsOfSet, readReleaseRecord, rollbackTarget } from '../releases/record.ts';
import { switchToSet } from '../releases/switch.ts';
import { findSmokeEngine } from '../smoke/engine.ts';
import { formatFailure } from '../ui/format.ts';
import { APPLY_FLAG, formatApply, outdatedNotice, runApply } from './apply-command.ts';
import { composeStep, smokeStep } from './compose-steps.ts';
import { loadContext } from './context.ts';
import { runLockDirs, runLockOptions } from './run-lock.ts';
import { formatSmoke } from './smoke-command.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, WAIT_FLAG } from './specs.ts';

export const rollbackCommand: CommandSpec = {
  name: 'rollback',
  summary: 'return to the previous release set (or --to DIGEST) without network; --apply recreates the services',
  usage: 'modelmount rollback [--to DIGEST] [--apply] [--json]',
  flags: [
    { name: 'to', type: 'string', value: 'DIGEST', help: 'the release set to return to (a digest or a unique prefix; `modelmount status` lists the kept sets)' },
    APPLY_FLAG,
    { name: 'smoke', type: 'boolean', defaultTrue: true, env: 'MODELS_SMOKE', help: 'skip the container smoke test' },
    { name: 'full', type: 'boolean', help: 'smoke test: also compare sha256 inside the container' },
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'jobs'),
    WAIT_FLAG,
    JSON_FLAG,
  ],
  details: `Keeps the last keepReleases sets (manifest, default 3). Exit 2 when there is no set to return to,
5 when its releases are gone, 8 when the smoke test fails.`,
  async run(flags, io, signal) {
    const ctx = await loadContext(flags, io);
    const { manifest } = ctx;
    if (!manifest.compose) throw new UsageError(`${manifest.path} has no \`compose:\` section: releases are made for the Compose override only.`, { code: 'ENOCOMPOSE', hint: 'Add a `compose:` section (see the README).' });
    return withRunLock(runLockDirs(io.env, [ctx.hostDir]), runLockOptions(flags, ctx, 'rollback', signal), async (locked) => {
      const record = await readReleaseRecord(ctx.hostDir, manifest.path);
      const kept = (record?.sets ?? []).map((s) => `${s.digest.slice(0, 12)} (${s.createdAt}${s.digest === record?.current ? ', current' : ''})`);
      const target = record && rollbackTarget(record, flags.to as string | undefined);
      if (!record || !target) {
        throw new UsageError(flags.to ? `No kept release set matches ${String(flags.to)} (exactly one must).` : 'There is no earlier release set to return to.', {
          code: 'ENOROLLBACK',
          hint: kept.length ? `Kept sets, newest first: ${kept.join('; ')}. Use --to <digest>.` : `Run \`${commandFor('update')}\` first: it makes the releases.`,
        });
      }
      const from = record.current;
      if (target.digest !== from) await switchToSet(manifest, record, target);
      const artifacts = artifactsOfSet(manifest, target);
      const found = await findSmokeEngine({ env: io.env, cwd: io.cwd });
      const out: Record<string, unknown> = { command: 'rollback', from, to: target.digest };
      let exitCode = 0;
      try {
        out.compose = await composeStep(manifest, artifacts, { env: io.env, cwd: io.cwd, jobs: ctx.jobs, found });
        ctx.log(`Release set ${target.digest.slice(0, 12)} is current again (was ${from.slice(0, 12)}); ${manifest.compose!.override} mounts it.`);
        if (flags.apply) {
          const applied = await runApply(ctx, flags, io, locked, { found });
          out.apply = applied.report;
          exitCode = applied.exitCode;
          if (!ctx.json && applied.report) io.stdout.write(formatApply(applied.report));
        } else {
          if (flags.smoke !== false) {
            const s = await smokeStep(manifest, artifacts, { env: io.env, cwd: io.cwd, full: Boolean(flags.full), signal: locked, optional: true, found, onStep: ctx.json ? undefined : (m) => ctx.log(`  ${m}`) });
            out.smoke = s.report ?? { skipped: s.skipped };
            if (s.report && !ctx.json) io.stdout.write(formatSmoke(s.report));
          }
          for (const line of await outdatedNotice(manifest, found.engine, io)) ctx.log(line);
        }
      } catch (err) {
        if (!(err instanceof ModelmountError)) throw err;
        if (err.data?.report) out.smoke = err.data.report;
        out.error = { code: err.code, message: err.message, hint: err.hint };
        if (!ctx.json) {
          if (err.data?.report) io.stdout.write(formatSmoke(err.data.report as never));
          io.stderr.write(formatFailure(err));
        }
        exitCode = err.exitCode;
      }
      if (ctx.json) io.stdout.write(`${JSON.stringify({ ...out, ok: exitCode === 0 }, null, 2)}\n`);
      return exitCode;
    });
  },
};
