/**
 * Flags, declared once per command: parsing, MODELS_* environment fallbacks,
 * validation and --help text all come from the same table.
 * Precedence: flag > environment variable > manifest default > built-in default.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import { levenshtein } from '../levenshtein.ts';

export type FlagType = 'boolean' | 'string' | 'number' | 'list';

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly help: string;
  readonly env?: string;
  /** one letter: -j */
  readonly alias?: string;
  /** shown in help, e.g. "PATH" */
  readonly value?: string;
  /** booleans that default to true and are turned off with --no-<name> */
  readonly defaultTrue?: boolean;
  /** smallest accepted number (default 1) */
  readonly min?: number;
}

/**
 * What a command's arguments (words that are not options) mean:
 * 'artifacts' — artifact ids, the same as --only (`update student/v0_ja`);
 * 'own' — the command reads them itself (`manifest add <folder>`);
 * absent — none: an argument is an error (`verify models.yaml` means nothing).
 */
export type Operands = 'artifacts' | 'own';

/** The value a flag of this type parses to: a boolean always has one (its default), the others only when given. */
type FlagValue<T extends FlagType> = T extends 'boolean' ? boolean : T extends 'number' ? number | undefined : T extends 'list' ? string[] | undefined : string | undefined;

/** The values of a set of flags (a union of their specs, declared `as const`), by name; a flag not given and without a default is absent. */
export type FlagValues<S extends FlagSpec> = { [K in S as K['type'] extends 'boolean' ? K['name'] : never]: boolean } & {
  [K in S as K['type'] extends 'boolean' ? never : K['name']]?: FlagValue<K['type']>;
};

/** What a helper shared by several commands reads: any of these flags, each of which a command may lack. */
export type SomeFlags<S extends FlagSpec> = Partial<FlagValues<S> & FlagsMeta<string>>;

export interface FlagsMeta<Name extends string> {
  /** the arguments, for commands whose operands are 'own' (else empty) */
  _: string[];
  /** names answered by a flag or an environment variable (not by a default) */
  given: ReadonlySet<Name>;
  /** every flag the command has: a hint names only those */
  known: ReadonlySet<Name>;
}

/** What parseFlags returns for these specs. */
export type ParsedFlags<S extends FlagSpec> = FlagValues<S> & FlagsMeta<S['name']>;

export const COMMON_FLAGS = [
  { name: 'manifest', type: 'string', value: 'PATH', env: 'MODELS_MANIFEST', help: 'manifest file (default manifests/models.yaml)' },
  { name: 'help', type: 'boolean', alias: 'h', help: 'show this help' },
  { name: 'quiet', type: 'boolean', alias: 'q', env: 'MODELS_QUIET', help: 'no progress or status lines on stderr (errors stay; results on stdout are unchanged)' },
  { name: 'verbose', type: 'boolean', env: 'MODELS_VERBOSE', help: 'more on stderr: the plan before an update, the cause of an error' },
] as const satisfies readonly FlagSpec[];

export type CommonFlag = (typeof COMMON_FLAGS)[number];

/** An argument a command without operands was given: say what it could have meant. */
function unexpectedArgument(arg: string, command: string): UsageError {
  const maybe = /\.ya?ml$/i.test(arg)
    ? `To use that manifest, pass --manifest ${arg}. `
    : /^[^-]/.test(arg) && arg.includes('/')
      ? `Artifacts are chosen with update (\`${commandFor('update', arg)}\`), verify, smoke or status. `
      : '';
  return new UsageError(`${command || 'This command'} takes no arguments, got "${arg}".`, {
    code: 'EUNEXPECTEDARG',
    hint: `${maybe}Run \`${commandFor(command, '--help')}\` to see the options.`,
  });
}

/** The words a boolean takes, in any case, written as --smoke=0 or MODELS_SMOKE=0 (the same rule for both). */
const BOOLEAN_WORDS = new Map([
  ['true', true],
  ['1', true],
  ['false', false],
  ['0', false],
]);

/** A boolean flag's or variable's word; another word is a usage error naming where it was written. */
function parseBooleanWord(spec: FlagSpec, text: string, fromEnv: boolean): boolean {
  const value = BOOLEAN_WORDS.get(text.trim().toLowerCase());
  if (value !== undefined) return value;
  const name = fromEnv ? spec.env! : `--${spec.name}`;
  throw new UsageError(`${name}=${text}: ${name} must be true, false, 1 or 0.`, {
    hint: fromEnv ? `e.g. ${name}=1, or unset ${name}.` : `e.g. --${spec.name} or --no-${spec.name} (or --${spec.name}=false).`,
  });
}

/**
 * Whether the arguments ask for JSON, read before (or without) a full parse, so that an error the
 * parse itself raises is still reported as one JSON document: the last of --json, --json=WORD and
 * --no-json before a `--` wins (a word that is not a boolean still asks for it: the parse refuses it).
 */
export function jsonAsked(args: readonly string[]): boolean {
  let json = false;
  for (const a of args) {
    if (a === '--') break;
    if (a === '--json') json = true;
    else if (a === '--no-json') json = false;
    else if (a.startsWith('--json=')) json = BOOLEAN_WORDS.get(a.slice('--json='.length).trim().toLowerCase()) ?? true;
  }
  return json;
}

type ArgsOptions = Record<string, { type: 'boolean' | 'string'; short?: string }>;

/**
 * parseArgs's tokens, read loosely (strict: false) so that every unknown option is reported, not
 * only the first. A value never looks like an option: `--manifest --yes` leaves --manifest without
 * one and --yes still counts (a value starting with "-" is written --manifest=-x).
 */
type Token =
  | { kind: 'option'; name: string; rawName: string; index: number; value?: string | undefined; inlineValue?: boolean | undefined }
  | { kind: 'positional'; index: number; value: string }
  | { kind: 'option-terminator'; index: number };

function tokenize(argv: readonly string[], options: ArgsOptions): Token[] {
  const tokens: Token[] = [];
  for (let from = 0; ; ) {
    const part: Token[] = parseArgs({ args: argv.slice(from), options, strict: false, allowPositionals: true, allowNegative: true, tokens: true }).tokens.map((t) => {
      const index = t.index + from;
      if (t.kind !== 'option') return { ...t, index };
      // -j=4 as --jobs=4
      const value = t.inlineValue && !t.rawName.startsWith('--') && t.value?.startsWith('=') ? t.value.slice(1) : t.value;
      return { ...t, index, value };
    });
    const cut = part.find((t) => t.kind === 'option' && t.inlineValue === false && /^(--$|--?[^-])/.test(t.value ?? ''));
    if (cut?.kind !== 'option') return [...tokens, ...part];
    // the option gets no value; what it took is read again as an option
    tokens.push(...part.slice(0, part.indexOf(cut)), { ...cut, value: undefined });
    from = cut.index + 1;
  }
}

interface ReadArgv {
  /** per flag named on the command line: a switch's last setting (or the word it was given), or every value given (in order) */
  values: Map<string, boolean | string | string[]>;
  words: string[];
  /** unknown options as typed: "--bar=1", "-z" */
  unknown: string[];
}

function readArgv(argv: readonly string[], specs: readonly FlagSpec[]): ReadArgv {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const options: ArgsOptions = Object.fromEntries(specs.map((s) => [s.name, { type: s.type === 'boolean' ? 'boolean' : 'string', ...(s.alias ? { short: s.alias } : {}) }]));
  const out: ReadArgv = { values: new Map(), words: [], unknown: [] };
  const tokens = tokenize(argv, options);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'positional') out.words.push(t.value);
    if (t.kind !== 'option') continue;
    const spec = byName.get(t.name);
    const negated = t.rawName === `--no-${t.name}`;
    if (!spec || (negated && spec.type !== 'boolean')) {
      out.unknown.push(t.rawName.startsWith('--') ? argv[t.index]! : t.rawName);
    } else if (spec.type !== 'boolean') {
      out.values.set(spec.name, [...((out.values.get(spec.name) as string[] | undefined) ?? []), t.value ?? '']);
    } else {
      // a word: --yes=0 (read by parseBooleanWord), and `--yes false` / `-y true` with the word after it
      const next = tokens[i + 1];
      const word = !negated && t.value === undefined && next?.kind === 'positional' && next.index === t.index + 1 && /^(true|false)$/.test(next.value) ? next.value : undefined;
      if (word !== undefined) i++;
      out.values.set(spec.name, negated ? false : (word ?? t.value ?? true));
    }
  }
  return out;
}

function unknownOptions(unknown: string[], specs: readonly FlagSpec[], command: string): UsageError {
  const known = specs.map((s) => s.name);
  const hints = unknown.map((u) => {
    const name = u.replace(/^--?(no-)?/, '').replace(/=.*$/, '');
    const best = known.map((k) => [k, levenshtein(name, k)] as const).sort((a, b) => a[1] - b[1])[0];
    return best && best[1] <= 2 ? `${u} (did you mean --${best[0]}?)` : u;
  });
  const selecting = unknown.some((u) => /^--(only|labels|include-optional)(=|$)/.test(u));
  return new UsageError(`Unknown option${unknown.length > 1 ? 's' : ''} for ${command || 'this command'}: ${hints.join(', ')}`, {
    hint: `${selecting ? `${command} does not select artifacts: it acts on the installed set, which \`${commandFor('update', '--only IDS')}\` adds to and \`${commandFor('update', '--prune …')}\` replaces. ` : ''}Run \`${commandFor(command, '--help')}\` to see the options.`,
  });
}

export function parseFlags<S extends FlagSpec>(argv: readonly string[], specs: readonly S[], env: NodeJS.ProcessEnv = process.env, command = '', operands?: Operands): ParsedFlags<S> {
  const { values, words, unknown } = readArgv(argv, specs);
  if (unknown.length) throw unknownOptions(unknown, specs, command);
  if (operands === 'artifacts' && words.length) {
    // `update a b --only c` = `update --only a,b,c`; as a flag, they win over MODELS_ONLY
    values.set('only', [...words, ...((values.get('only') as string[] | undefined) ?? [])]);
  } else if (operands === undefined && words.length) throw unexpectedArgument(words[0]!, command);
  const given = new Set<string>();
  const out: Record<string, unknown> = { _: operands === 'own' ? words : [], given, known: new Set(specs.map((s) => s.name)) };
  for (const spec of specs) {
    let value = values.get(spec.name);
    /** the value is the variable's text (not a flag's): errors name the variable */
    let fromEnv = false;
    if (value === undefined && spec.env && env[spec.env] !== undefined && env[spec.env] !== '') {
      value = env[spec.env]!;
      fromEnv = true;
    }
    if (value === undefined) {
      if (spec.type === 'boolean') out[spec.name] = spec.defaultTrue === true;
      continue;
    }
    given.add(spec.name);
    if (Array.isArray(value) && spec.type !== 'list') value = value[value.length - 1]!;
    out[spec.name] = flagValue(spec, value, fromEnv);
  }
  return out as ParsedFlags<S>;
}

/** A flag's value (from the command line or its variable) checked and converted to its type. */
function flagValue(spec: FlagSpec, value: boolean | string | string[], fromEnv: boolean): boolean | number | string | string[] {
  switch (spec.type) {
    case 'boolean':
      return typeof value === 'boolean' ? value : parseBooleanWord(spec, String(value), fromEnv);
    case 'list':
      return (Array.isArray(value) ? value : [String(value)])
        .flatMap((v) => v.split(','))
        .map((v) => v.trim())
        .filter(Boolean);
    case 'number': {
      if (value === '') break;
      const n = Number(value);
      const min = spec.min ?? 1;
      if (!Number.isInteger(n) || n < min) {
        if (!fromEnv) throw new UsageError(`--${spec.name} must be a whole number ≥ ${min}, got "${String(value)}".`, { hint: `e.g. --${spec.name} 4` });
        throw new UsageError(`${spec.env}=${String(value)}: ${spec.env} must be a whole number ≥ ${min}.`, { hint: `e.g. ${spec.env}=4, or unset ${spec.env} (it stands for --${spec.name}).` });
      }
      return n;
    }
    default:
      if (typeof value === 'string' && value !== '') return value;
  }
  throw new UsageError(`--${spec.name} needs a value${spec.value ? ` (${spec.value})` : ''}.`, {
    hint: `Write it after the flag, e.g. --${spec.name} ${spec.value ?? 'VALUE'} (or --${spec.name}=${spec.value ?? 'VALUE'}); --help lists every flag.`,
  });
}

export function formatHelp(usage: string, summary: string, specs: readonly FlagSpec[], extra = ''): string {
  const rows = specs.map((s) => {
    const left = `  ${s.alias ? `-${s.alias}, ` : '    '}--${s.defaultTrue ? 'no-' : ''}${s.name}${s.value ? ` ${s.value}` : ''}`;
    // a switch shown as --no-NAME: its variable turns it off with 0 (MODELS_SMOKE=1 is on)
    return `${left.padEnd(30)} ${s.help}${s.env ? ` [env ${s.env}${s.defaultTrue ? '=0' : ''}]` : ''}`;
  });
  return `${summary}\n\nUsage: ${usage}\n\nOptions:\n${rows.join('\n')}\n${extra ? `\n${extra}\n` : ''}`;
}
