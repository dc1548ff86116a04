/**
 * Two runs at once, for the lock tests: hold a run lock from the test itself, and run a command
 * in-process with its stderr watched until it says it waits for that lock.
 */
import { PassThrough } from 'node:stream';
import { runCli } from '../../lib/cli/run-cli.ts';
import { commands } from '../../lib/commands/index.ts';
import type { Io } from '../../lib/io.ts';
import { withRunLock } from '../../lib/lock/run-lock.ts';

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Takes the run lock of `dirs` as `command` would, and keeps it until `release()`. */
export async function holdRunLock(dirs: string[], command: string): Promise<{ release: () => Promise<void> }> {
  const inside = deferred();
  const release = deferred();
  const held = withRunLock(dirs, { wait: true, command }, async () => {
    inside.resolve();
    await release.promise;
  });
  await inside.promise;
  return {
    release: async () => {
      release.resolve();
      await held;
    },
  };
}

export const WAITING_FOR_LOCK = 'Waiting for another modelmount run';

/** Runs `args` in this process; `waiting` resolves once its stderr says it waits for the lock. */
export function runWatchingStderr(args: string[], env: NodeJS.ProcessEnv): { waiting: Promise<void>; done: Promise<number>; stderr: () => string } {
  const stream = new PassThrough();
  let said = '';
  const waiting = new Promise<void>((resolve) =>
    stream.on('data', (c: Buffer) => {
      said += c.toString();
      if (said.includes(WAITING_FOR_LOCK)) resolve();
    }),
  );
  const io: Io = { stdout: new PassThrough().resume(), stderr: stream, env, cwd: process.cwd(), isTTY: false };
  return { waiting, done: runCli(args, io, commands, new AbortController().signal), stderr: () => said };
}
