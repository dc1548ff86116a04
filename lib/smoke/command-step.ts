/**
 * Step 2 of the smoke test: the app's own load check (manifest `smoke.command`) in a one-off
 * container of the service, with the manifest's time limit.
 */
import { formatCommandLine } from '../shell.ts';
import { combinedOutput, outputTail, tailText } from './container-output.ts';
import { containerName, runArgs, runOneOff, type PreparedService, type SmokeContext } from './one-off-run.ts';
import type { CommandStepResult, SmokeFailure } from './report.ts';

/**
 * Quote a word for shlex (v1) and go-shellwords (v2) when it needs it: `--entrypoint` is split
 * like a shell word list, so the command's first word is passed single-quoted.
 */
export function entrypointWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}

export async function runCommand(ctx: SmokeContext, service: string, prepared: PreparedService, command: string[], timeoutSeconds: number): Promise<{ result: CommandStepResult; failure?: SmokeFailure }> {
  const name = containerName(ctx, service, 'command');
  const [first = '', ...rest] = command;
  const argv = [...runArgs(ctx, prepared, name), '--entrypoint', entrypointWord(first), service, ...rest];
  const run = await runOneOff(ctx, argv, name, timeoutSeconds * 1000);
  const tail = outputTail(combinedOutput(run.out));
  // docker-compose v1 prints a failed container's exit status as a last line of its own
  if (ctx.engine.version === 'v1' && run.out.exitCode !== 0 && tail.at(-1) === String(run.out.exitCode)) tail.pop();
  const result: CommandStepResult = {
    status: 'passed',
    containerName: name,
    exitCode: run.out.exitCode,
    durationMs: run.durationMs,
    outputTail: tail,
    argv: command,
    timeoutSeconds,
  };
  const shown = formatCommandLine(command);
  if (run.timedOut) {
    result.status = 'timed-out';
    result.containerRemoved = run.containerRemoved;
    result.reason = `timed out after ${timeoutSeconds} s`;
    return {
      result,
      failure: {
        service,
        step: 'command',
        code: 'ESMOKE_TIMEOUT',
        message: `smoke command timed out after ${timeoutSeconds} s in ${service} (${shown}); the container was ${run.containerRemoved ? 'removed' : 'NOT removed: docker rm -f ' + name}. Last output:\n${tailText(tail)}`,
        hint: 'If loading the models legitimately takes longer, raise smoke.timeoutSeconds in the manifest; otherwise the output shows where it hangs.',
      },
    };
  }
  if (run.out.exitCode !== 0) {
    result.status = 'failed';
    result.reason = `exited ${run.out.exitCode ?? 'by a signal'}`;
    return {
      result,
      failure: {
        service,
        step: 'command',
        code: 'ESMOKE_COMMAND_FAILED',
        message: `smoke command exited ${run.out.exitCode ?? 'by a signal'} in ${service} (${shown}):\n${tailText(tail)}`,
        hint: "This is the app's own load check failing; its output is above. Fix the model check failures first, if any.",
      },
    };
  }
  return { result };
}
