/**
 * `modelmount apply`: move running services onto the current release set (recreate exactly the
 * services whose mounts changed, wait for health, smoke-test, switch back on failure).
 * The run and its report: lib/releases/run-apply.ts.
 */
import { defineCommand } from '../cli/command.ts';
import { loadContext, lockOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, WAIT_FLAG } from './specs.ts';

export const applyCommand = defineCommand({
  name: 'apply',
  summary: 'recreate the running services whose model mounts changed, smoke-test them, switch back on failure',
  usage: 'modelmount apply [--full] [--json]',
  flags: [{ name: 'full', type: 'boolean', help: 'smoke test: also compare sha256 inside the container' }, ...pickFlags(LOCATION_FLAGS, 'host-dir', 'jobs'), WAIT_FLAG, JSON_FLAG],
  details: `Runs \`compose up -d --no-deps <services>\` for exactly the services whose running containers
mount another release set than the current one, waits for their healthcheck, runs the smoke test,
and on failure switches back to the set they ran before, rewrites the override and recreates them
again. Exit 8 when the smoke test (or health) failed.`,
  async run(flags, io, signal) {
    const { withRunLock } = await import('../lock/run-lock.ts');
    const { formatApply, runApply } = await import('../releases/run-apply.ts');
    const { runLockDirs, runLockOptions } = await import('../lock/run-lock-options.ts');
    const ctx = await loadContext(flags, io, signal);
    const out = await withRunLock(runLockDirs(io.env, [{ dir: ctx.hostDir, folder: 'host' }]), runLockOptions(lockOptions(flags), ctx, 'apply', signal), (locked) => runApply(ctx, { full: Boolean(flags.full) }, io, locked));
    if (ctx.json) {
      const error = out.error ? { code: out.error.code, message: out.error.message, hint: out.error.hint } : undefined;
      io.stdout.write(`${JSON.stringify({ command: 'apply', ok: out.exitCode === 0, ...(out.report ?? {}), ...(error ? { error } : {}) }, null, 2)}\n`);
    } else if (out.report) io.stdout.write(formatApply(out.report));
    return out.exitCode;
  },
});
