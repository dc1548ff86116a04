/** How commands take the run lock (lib/lock/): which folders, and what --no-wait and waiting look like. */
import type { SomeFlags } from '../cli/args.ts';
import type { RunLockOptions } from '../lock/run-lock.ts';
import type { CommandContext } from './context.ts';
import type { WAIT_FLAG } from './specs.ts';

/**
 * TEST ONLY: MODELMOUNT_UNSAFE_NO_LOCK=1 skips the lock, to prove that concurrent
 * runs stay correct where locks do not hold (some network filesystems).
 */
export const UNSAFE_NO_LOCK_ENV = 'MODELMOUNT_UNSAFE_NO_LOCK';

export function runLockDirs(env: NodeJS.ProcessEnv, dirs: string[]): string[] {
  return env[UNSAFE_NO_LOCK_ENV] === '1' ? [] : dirs;
}

export function runLockOptions(flags: SomeFlags<typeof WAIT_FLAG>, ctx: Pick<CommandContext, 'log'>, command: string, signal?: AbortSignal): RunLockOptions {
  return {
    wait: flags.wait !== false,
    command: `modelmount ${command}`,
    ...(signal ? { signal } : {}),
    onWait: (holder) => ctx.log(`Waiting for another modelmount run: ${holder}. (Ctrl+C stops waiting; --no-wait fails at once instead.)`),
  };
}
