/**
 * The whole CLI in one function so tests can run it in-process: pick the
 * command, parse its flags, run it, turn errors into messages and exit codes.
 * Ctrl+C aborts the run through an AbortSignal; nothing half-written stays visible.
 */
import { CancelledError, ExitCode, ModelmountError, UsageError } from '../errors.ts';
import type { Io } from '../commands/context.ts';
import { formatFailure } from '../ui/format.ts';
import { COMMON_FLAGS, formatHelp, parseFlags } from './args.ts';
import { EXIT_CODES_HELP, type CommandSpec } from './command.ts';

export function mainHelp(commands: CommandSpec[]): string {
  const rows = commands.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n');
  return `modelmount — put verified ML model artifacts on a Docker host and prove containers can load them.

Usage: modelmount <command> [options]     (modelmount <command> --help for its options)

Commands:
${rows}

${EXIT_CODES_HELP}
`;
}

export function reportError(err: unknown, io: Io, json: boolean): number {
  if (err instanceof CancelledError) {
    io.stderr.write(`${err.message}\n`);
    if (json) io.stdout.write(`${JSON.stringify({ ok: true, cancelled: true }, null, 2)}\n`);
    return ExitCode.ok;
  }
  if (err instanceof ModelmountError) {
    if (json) io.stdout.write(`${JSON.stringify({ ok: false, error: err.toJSON() }, null, 2)}\n`);
    io.stderr.write(formatFailure(err));
    return err.exitCode;
  }
  const e = err as Error;
  if (e?.name === 'AbortError' || (e as { code?: string })?.code === 'ABORT_ERR') {
    io.stderr.write('Interrupted. Partial downloads are kept in the store for resume; the host folder holds only complete, verified files.\n');
    if (json) io.stdout.write(`${JSON.stringify({ ok: false, error: { code: 'EINTERRUPTED', message: 'interrupted' } }, null, 2)}\n`);
    return 130;
  }
  if (json) io.stdout.write(`${JSON.stringify({ ok: false, error: { code: 'EINTERNAL', message: String(e?.message ?? e) } }, null, 2)}\n`);
  io.stderr.write(`✖ Internal error (a bug in modelmount, please report it):\n${e?.stack ?? String(e)}\n`);
  return ExitCode.internal;
}

export async function runCli(argv: string[], io: Io, commands: CommandSpec[], signal: AbortSignal): Promise<number> {
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
  const json = rest.includes('--json');
  try {
    if (!cmd) {
      throw new UsageError(`Unknown command "${name}".`, { hint: `Commands: ${commands.map((c) => c.name).join(', ')}. Run \`modelmount --help\`.` });
    }
    // a command may redefine a common flag (gc takes several --manifest)
    const common = COMMON_FLAGS.filter((c) => !cmd.flags.some((f) => f.name === c.name) && (cmd.takesManifest !== false || c.name !== 'manifest'));
    const specs = [...common, ...cmd.flags];
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(formatHelp(cmd.usage, cmd.summary, specs, [cmd.details, EXIT_CODES_HELP].filter(Boolean).join('\n\n')));
      return ExitCode.ok;
    }
    const flags = parseFlags(rest, specs, io.env, cmd.name);
    return await cmd.run(flags, io, signal);
  } catch (err) {
    return reportError(err, io, json);
  }
}
