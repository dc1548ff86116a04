/** How a run talks to the world (streams, environment, folder, terminal, clock): used by the CLI, the commands and the UI. */
import type { Clock } from './clock.ts';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** stdin and stdout are terminals */
  isTTY: boolean;
  /** stderr is a terminal (progress draws there); undefined: not known, take isTTY */
  stderrIsTTY?: boolean;
  /** what waits between retries asks for the time (default: the system's; tests pass their own) */
  clock?: Clock;
  /** the platform the default store folder is named for (default: this one's; tests pass another) */
  platform?: NodeJS.Platform;
}

export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    isTTY: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
  };
}

export function isCI(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.CI && env.CI !== 'false' && env.CI !== '0');
}
