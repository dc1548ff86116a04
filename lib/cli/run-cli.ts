/**
 * The whole CLI in one function so tests can run it in-process: pick the
 * command, parse its flags, run it, turn errors into messages and exit codes.
 * Ctrl+C aborts the run through an AbortSignal; nothing half-written stays visible.
 */
import { CancelledError, ExitCode, ModelmountError, UsageError } from '../errors.ts';
import type { Io } from '../io.ts';
import { redactText } from '../redact.ts';
import { formatFailure } from '../ui/format.ts';
import { colorWanted, paintMarks, transformWrites } from '../ui/color.ts';
import { COMMON_FLAGS, formatHelp, jsonAsked, parseFlags } from './args.ts';
import { EXIT_CODES_HELP, type CommandSpec } from './command.ts';
import { commandFor, detectInvocation, setInvocation } from '../invocation.ts';

export function mainHelp(commands: CommandSpec[]): string {
  const rows = commands.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n');
  return `modelmount — put verified ML model artifacts on a Docker host and prove containers can load them.

Usage: modelmount <command> [options]     (modelmount <command> --help for its options)

Commands:
${rows}

${EXIT_CODES_HELP}
`;
}

/** stdout and stderr as the command sees them: marks painted on a terminal (NO_COLOR / FORCE_COLOR), stderr filtered by --quiet. */
function outputIo(io: Io): Io {
  const paint = (stream: NodeJS.WritableStream, isTTY: boolean | undefined) => (colorWanted(io.env, isTTY) ? transformWrites(stream, paintMarks) : stream);
  return { ...io, stdout: paint(io.stdout, (io.stdout as NodeJS.WriteStream).isTTY), stderr: paint(io.stderr, (io.stderr as NodeJS.WriteStream).isTTY) };
}

/** --quiet: stderr keeps only failures and their fixes (a write that starts with ✖ or →); progress and status lines are dropped. */
function quietIo(io: Io): Io {
  return { ...io, stderr: transformWrites(io.stderr, (text) => (/^\s*(\x1b\[\d+m)?[✖→]/.test(text) ? text : undefined)) };
}

/** --verbose: the causes behind a reported failure, one line each (messages only: they hold no secrets). */
function formatCauses(err: unknown): string {
  const lines: string[] = [];
  let cause = (err as { cause?: unknown } | undefined)?.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    const c = cause as { code?: unknown; message?: unknown };
    lines.push(`  cause: ${c.code ? `[${String(c.code)}] ` : ''}${String(c.message ?? cause)}`);
    cause = (cause as { cause?: unknown }).cause;
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export function reportError(err: unknown, io: Io, json: boolean, verbose = false): number {
  if (err instanceof CancelledError) {
    io.stderr.write(`${err.message}\n`);
    if (json) io.stdout.write(`${JSON.stringify({ ok: !err.interrupted, cancelled: true }, null, 2)}\n`);
    return err.exitCode;
  }
  if (err instanceof ModelmountError) {
    if (json) io.stdout.write(`${JSON.stringify({ ok: false, error: err.toJSON() }, null, 2)}\n`);
    io.stderr.write(formatFailure(err));
    if (verbose) io.stderr.write(formatCauses(err));
    return err.exitCode;
  }
  const e = err as Error;
  if (e?.name === 'AbortError' || (e as { code?: string })?.code === 'ABORT_ERR') {
    io.stderr.write('Interrupted. Partial downloads are kept in the store for resume; the host folder holds only complete, verified files.\n');
    if (json) io.stdout.write(`${JSON.stringify({ ok: false, error: { code: 'EINTERRUPTED', message: 'interrupted' } }, null, 2)}\n`);
    return 130;
  }
  if (json) io.stdout.write(internalErrorDocument(e));
  io.stderr.write(formatInternalError(err, io.env));
  return ExitCode.internal;
}

/** An unexpected error as --json prints it: `{ok: false, error: {code: 'EINTERNAL', message}}`, the message as internalMessage. */
function internalErrorDocument(err: unknown): string {
  return `${JSON.stringify({ ok: false, error: { code: 'EINTERNAL', message: internalMessage(err) } }, null, 2)}\n`;
}

/** An unexpected error's message as printed: its first line, at most 300 characters, URLs and tokens redacted. */
function internalMessage(err: unknown): string {
  return redactText(String((err as { message?: unknown } | undefined)?.message ?? err).split('\n')[0]!.slice(0, 300));
}

/**
 * An error nobody expected: one short line saying it is a bug and where to report it; the stack
 * only with MODELMOUNT_DEBUG set (a stack trace tells a user nothing, and may quote paths).
 */
export function formatInternalError(err: unknown, env: NodeJS.ProcessEnv): string {
  const e = err as { message?: unknown; code?: unknown; stack?: unknown } | undefined;
  const message = internalMessage(err);
  const code = typeof e?.code === 'string' ? ` (${e.code})` : '';
  const debug = env.MODELMOUNT_DEBUG !== undefined && env.MODELMOUNT_DEBUG !== '' && env.MODELMOUNT_DEBUG !== '0';
  // the stack is for a bug report: redacted like the message (its first line is the message)
  if (debug) return `✖ Internal error${code}: this is a bug in modelmount, please report it.\n${typeof e?.stack === 'string' ? redactText(e.stack) : message}\n`;
  return `✖ Internal error${code}: ${message}\n  This is a bug in modelmount, please report it (run again with MODELMOUNT_DEBUG=1 for the details).\n`;
}

/**
 * The process's last line of defence (scripts/modelmount.ts): an error that escaped every handler
 * (an unhandled 'error' event, a rejected promise nobody awaited) ends the run with exit 1 and the
 * short internal-error line, not a Node stack trace; under --json (read from the command line as
 * runCli reads it) also the EINTERNAL document on stdout, as for a reported internal error, unless
 * the run has printed its document already (stdout carries one). EPIPE on stdout or stderr (`… | head -1`
 * closed the pipe) is quiet: the reader has gone, so what is left to print is dropped, and the run
 * finishes what it was doing (an install is never cut short by a closed pipe) with its own exit status.
 * Returns `stdout`, the run's: what is written there counts as printed.
 */
export function installLastResortHandlers(proc: NodeJS.Process = process): { stdout: NodeJS.WritableStream } {
  const isEpipe = (err: unknown) => (err as { code?: unknown } | undefined)?.code === 'EPIPE';
  let crashed = false;
  let printed = false;
  const crash = (err: unknown) => {
    if (isEpipe(err) || crashed) return;
    crashed = true;
    // each stream on its own: one that is gone must not silence the other; the exit status still says it
    if (jsonAsked(proc.argv.slice(3)) && !printed) {
      try {
        proc.stdout.write(internalErrorDocument(err));
      } catch {}
    }
    try {
      proc.stderr.write(formatInternalError(err, proc.env));
    } catch {}
    proc.exit(ExitCode.internal);
  };
  for (const stream of [proc.stdout, proc.stderr]) stream.on('error', crash);
  proc.on('uncaughtException', crash);
  proc.on('unhandledRejection', crash);
  return {
    stdout: transformWrites(proc.stdout, (text) => {
      printed ||= text !== '';
      return text;
    }),
  };
}

export async function runCli(argv: string[], io0: Io, commands: CommandSpec[], signal: AbortSignal): Promise<number> {
  // every hint from here on names the next command the way this one was run
  setInvocation(detectInvocation(io0.env));
  const io = outputIo(io0);
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(mainHelp(commands));
    return name ? ExitCode.ok : ExitCode.usage;
  }
  if (name === '--version' || name === '-v') {
    const pkg = await import('../../package.json', { with: { type: 'json' } });
    io.stdout.write(`${pkg.default.version}\n`);
    return ExitCode.ok;
  }
  const cmd = commands.find((c) => c.name === name);
  let json = jsonAsked(rest);
  let verbose = false;
  try {
    if (!cmd) {
      throw new UsageError(`Unknown command "${name}".`, { hint: `Commands: ${commands.map((c) => c.name).join(', ')}. Run \`${commandFor('--help')}\`.` });
    }
    // a command may redefine a common flag (gc takes several --manifest)
    const common = COMMON_FLAGS.filter((c) => !cmd.flags.some((f) => f.name === c.name) && (cmd.takesManifest !== false || c.name !== 'manifest'));
    const specs = [...common, ...cmd.flags];
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(formatHelp(cmd.usage, cmd.summary, specs, [cmd.details, EXIT_CODES_HELP].filter(Boolean).join('\n\n')));
      return ExitCode.ok;
    }
    const flags = parseFlags(rest, specs, io.env, cmd.name, cmd.operands);
    json = Boolean(flags.json);
    if (flags.quiet && flags.verbose) throw new UsageError('--quiet and --verbose contradict each other.', { hint: 'Pass one of them (or set only one of MODELS_QUIET, MODELS_VERBOSE).' });
    verbose = Boolean(flags.verbose);
    return interrupted(signal, await cmd.run(flags, flags.quiet ? quietIo(io) : io, signal));
  } catch (err) {
    return interrupted(signal, reportError(err, io, json, verbose));
  }
}

/**
 * Ctrl+C or SIGTERM ends the run with 130 whatever the command made of the abort (smoke reports an
 * interrupted container as ESMOKE_ABORTED, a failure of exit 8; the document and message say it).
 */
function interrupted(signal: AbortSignal, code: number): number {
  const reason = signal.aborted ? (signal.reason as { name?: unknown } | undefined) : undefined;
  return reason?.name === 'AbortError' && code !== ExitCode.ok ? 130 : code;
}
