/** A subcommand: its flags (parsed from one table), its help, and what it runs. */
import type { Io } from '../io.ts';
import type { CommonFlag, FlagSpec, Operands, ParsedFlags } from './args.ts';

/** A command's parsed flags: its own, and the common ones it does not redefine. */
export type CommandFlags<S extends FlagSpec> = ParsedFlags<S | Exclude<CommonFlag, { name: S['name'] }>>;

/**
 * A command, with the specs of its own flags. Without them (`CommandSpec`): any command, as the
 * command list holds them (runCli parses each one's flags with its own table before its run()).
 */
export interface CommandSpec<S extends FlagSpec = any> {
  name: string;
  /** one line for the command list */
  summary: string;
  usage: string;
  flags: readonly S[];
  /** what its arguments mean (see Operands); absent: it takes none */
  operands?: Operands;
  /** false: the command takes no --manifest (it brings its own) */
  takesManifest?: boolean;
  /** extra help text: examples, exit codes */
  details?: string;
  /** returns the exit status; throws ModelmountError for reported failures */
  run(flags: CommandFlags<S>, io: Io, signal: AbortSignal): Promise<number>;
}

/** A command whose run() reads its flags typed from its own table (declare the table inline or `as const`). */
export function defineCommand<const S extends FlagSpec>(spec: CommandSpec<S>): CommandSpec<S> {
  return spec;
}

export const EXIT_CODES_HELP = `Exit status: 0 ok, 1 internal bug (or a broken install), 2 usage or manifest error, 3 every source failed,
4 integrity failure, 5 local disk or permission failure, 6 locked by another run,
7 Compose/doctor error, 8 smoke test failed, 130 interrupted (Ctrl+C, also at a question: nothing changed;
partial downloads are kept for resume).`;
