/** How runs take the run lock (run-lock.ts): which folders, and what --no-wait and waiting look like. */
import type { LockFolder, RunLockOptions } from './run-lock.ts';

/**
 * TEST ONLY: MODELMOUNT_UNSAFE_NO_LOCK=1 skips the lock, to prove that concurrent
 * runs stay correct where locks do not hold (some network filesystems).
 */
export const UNSAFE_NO_LOCK_ENV = 'MODELMOUNT_UNSAFE_NO_LOCK';

export function runLockDirs(env: NodeJS.ProcessEnv, dirs: LockFolder[]): LockFolder[] {
  return env[UNSAFE_NO_LOCK_ENV] === '1' ? [] : dirs;
}

/** `wait`: false fails at once (--no-wait) instead of waiting for the other run. */
export function runLockOptions(opts: { wait?: boolean }, ctx: { log: (line: string) => void }, command: string, signal?: AbortSignal): RunLockOptions {
  return {
    wait: opts.wait !== false,
    command: `modelmount ${command}`,
    ...(signal ? { signal } : {}),
    onWait: (holder) => ctx.log(`Waiting for another modelmount run: ${holder}. (Ctrl+C stops waiting; --no-wait fails at once instead.)`),
  };
}
