/**
 * Flags, declared once per command: parsing, MODELS_* environment fallbacks,
 * validation and --help text all come from the same table.
 * Precedence: flag > environment variable > manifest default > built-in default.
 */
import minimist from 'minimist';
import { UsageError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import { levenshtein } from '../levenshtein.ts';

export type FlagType = 'boolean' | 'string' | 'number' | 'list';

export interface FlagSpec {
  name: string;
  type: FlagType;
  help: string;
  env?: string;
  alias?: string;
  /** shown in help, e.g. "PATH" */
  value?: string;
  /** booleans that default to true and are turned off with --no-<name> */
  defaultTrue?: boolean;
  /** smallest accepted number (default 1) */
  min?: number;
}

/**
 * What a command's arguments (words that are not options) mean:
 * 'artifacts' — artifact ids, the same as --only (`update student/v0_ja`);
 * 'own' — the command reads them itself (`manifest add <folder>`);
 * absent — none: an argument is an error (`verify models.yaml` means nothing).
 */
export type Operands = 'artifacts' | 'own';

export type ParsedFlags = Record<string, string | number | boolean | string[] | undefined> & {
  _: string[];
  /** names answered by a flag or an environment variable (not by a default) */
  _set?: string[];
};

export const COMMON_FLAGS: FlagSpec[] = [
  { name: 'manifest', type: 'string', value: 'PATH', env: 'MODELS_MANIFEST', help: 'manifest file (default manifests/models.yaml)' },
  { name: 'help', type: 'boolean', alias: 'h', help: 'show this help' },
  { name: 'quiet', type: 'boolean', alias: 'q', env: 'MODELS_QUIET', help: 'no progress or status lines on stderr (errors stay; results on stdout are unchanged)' },
  { name: 'verbose', type: 'boolean', env: 'MODELS_VERBOSE', help: 'more on stderr: the plan before an update, the cause of an error' },
];

function booleanGiven(argv: string[], spec: FlagSpec): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some(
    (a) => a === `--${spec.name}` || a === `--no-${spec.name}` || a.startsWith(`--${spec.name}=`) || (spec.alias !== undefined && a === `-${spec.alias}`),
  );
}

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

/** A boolean MODELS_* variable: true/false/1/0 (any case); anything else is a usage error naming the variable. */
export function parseBooleanEnv(name: string, text: string): boolean {
  if (/^(1|true)$/i.test(text.trim())) return true;
  if (/^(0|false)$/i.test(text.trim())) return false;
  throw new UsageError(`${name}=${text}: ${name} must be true, false, 1 or 0.`, { hint: `e.g. ${name}=1, or unset ${name}.` });
}

export function parseFlags(argv: string[], specs: FlagSpec[], env: NodeJS.ProcessEnv = process.env, command = '', operands?: Operands): ParsedFlags {
  const booleans = specs.filter((s) => s.type === 'boolean').map((s) => s.name);
  const strings = specs.filter((s) => s.type !== 'boolean').map((s) => s.name);
  const alias = Object.fromEntries(specs.filter((s) => s.alias).map((s) => [s.alias!, s.name]));
  const unknown: string[] = [];
  const raw = minimist(argv, {
    boolean: booleans,
    string: strings,
    alias,
    unknown: (arg) => {
      if (arg.startsWith('-')) {
        unknown.push(arg);
        return false;
      }
      return true;
    },
  });
  if (unknown.length) {
    const known = specs.map((s) => s.name);
    const hints = unknown.map((u) => {
      const name = u.replace(/^--?(no-)?/, '').replace(/=.*$/, '');
      const best = known.map((k) => [k, levenshtein(name, k)] as const).sort((a, b) => a[1] - b[1])[0];
      return best && best[1] <= 2 ? `${u} (did you mean --${best[0]}?)` : u;
    });
    const selecting = unknown.some((u) => /^--(only|labels|include-optional)(=|$)/.test(u));
    throw new UsageError(`Unknown option${unknown.length > 1 ? 's' : ''} for ${command || 'this command'}: ${hints.join(', ')}`, {
      hint: `${selecting ? `${command} does not select artifacts: it acts on the installed set, which \`${commandFor('update', '--only IDS')}\` adds to and \`${commandFor('update', '--prune …')}\` replaces. ` : ''}Run \`${commandFor(command, '--help')}\` to see the options.`,
    });
  }
  const words = raw._.map(String);
  if (operands === 'artifacts' && words.length) {
    // `update a b --only c` = `update --only a,b,c`; as a flag, they win over MODELS_ONLY
    raw.only = [...words, ...(raw.only === undefined ? [] : [raw.only].flat())];
  } else if (operands === undefined && words.length) throw unexpectedArgument(words[0]!, command);
  const out: ParsedFlags = { _: operands === 'own' ? words : [], _set: [] };
  for (const spec of specs) {
    // minimist defaults every boolean to false, so for booleans look at argv itself
    const given = spec.type === 'boolean' ? booleanGiven(argv, spec) : raw[spec.name] !== undefined;
    let value: unknown = given ? raw[spec.name] : undefined;
    /** where the value came from, as the user would recognise it in an error: "--jobs" or "MODELS_JOBS=abc" */
    let origin = `--${spec.name}`;
    if (value === undefined && spec.env && env[spec.env] !== undefined && env[spec.env] !== '') {
      const text = env[spec.env]!;
      origin = `${spec.env}=${text}`;
      value = spec.type === 'boolean' ? parseBooleanEnv(spec.env, text) : text;
    }
    if (value === undefined) {
      if (spec.type === 'boolean') out[spec.name] = spec.defaultTrue ? true : false;
      continue;
    }
    out._set!.push(spec.name);
    if (Array.isArray(value) && spec.type !== 'list') value = value[value.length - 1];
    switch (spec.type) {
      case 'boolean':
        out[spec.name] = Boolean(value);
        break;
      case 'number': {
        const n = Number(value);
        const min = spec.min ?? 1;
        if (!Number.isInteger(n) || n < min) {
          if (origin.startsWith('--')) throw new UsageError(`--${spec.name} must be a whole number ≥ ${min}, got "${String(value)}".`, { hint: `e.g. --${spec.name} 4` });
          throw new UsageError(`${origin}: ${spec.env} must be a whole number ≥ ${min}.`, { hint: `e.g. ${spec.env}=4, or unset ${spec.env} (it stands for --${spec.name}).` });
        }
        out[spec.name] = n;
        break;
      }
      case 'list':
        out[spec.name] = (Array.isArray(value) ? value : [value])
          .flatMap((v) => String(v).split(','))
          .map((v) => v.trim())
          .filter(Boolean);
        break;
      default:
        if (typeof value !== 'string' || value === '') {
          throw new UsageError(`--${spec.name} needs a value${spec.value ? ` (${spec.value})` : ''}.`);
        }
        out[spec.name] = value;
    }
  }
  return out;
}

export function formatHelp(usage: string, summary: string, specs: FlagSpec[], extra = ''): string {
  const rows = specs.map((s) => {
    const left = `  ${s.alias ? `-${s.alias}, ` : '    '}--${s.defaultTrue ? 'no-' : ''}${s.name}${s.value ? ` ${s.value}` : ''}`;
    return `${left.padEnd(30)} ${s.help}${s.env ? ` [env ${s.env}]` : ''}`;
  });
  return `${summary}\n\nUsage: ${usage}\n\nOptions:\n${rows.join('\n')}\n${extra ? `\n${extra}\n` : ''}`;
}
