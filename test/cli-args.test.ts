/** parseFlags: what arguments that are not options mean per command, and MODELS_* variables: errors name what the user actually set. */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { COMMON_FLAGS, parseFlags, type FlagSpec } from '../lib/cli/args.ts';
import { updateCommand } from '../lib/commands/update-command.ts';
import { SELECTION_FLAGS } from '../lib/commands/specs.ts';
import { UsageError } from '../lib/errors.ts';
import { runCliCaptured, tempDir } from './helpers/cli.ts';
import { usageError } from './helpers/usage-error.ts';

const specs: FlagSpec[] = [...SELECTION_FLAGS, { name: 'manifest', type: 'string', value: 'PATH', env: 'MODELS_MANIFEST', help: '' }];


describe('arguments', () => {
  it("'artifacts': ids join --only, and as a flag they win over MODELS_ONLY", () => {
    const f = parseFlags(['student/v0_ja', '--only', 'teacher/v0', 'student/v0_en'], specs, {}, 'update', 'artifacts');
    expect(f.only).toEqual(['student/v0_ja', 'student/v0_en', 'teacher/v0']);
    expect(f._).toEqual([]);
    expect([...f.given]).toContain('only');
    expect(parseFlags(['student/v0_en'], specs, { MODELS_ONLY: 'student/v0_ja' }, 'update', 'artifacts').only).toEqual(['student/v0_en']);
    expect(parseFlags([], specs, { MODELS_ONLY: 'student/v0_ja' }, 'update', 'artifacts').only).toEqual(['student/v0_ja']);
  });

  it("'own': the command gets them", () => {
    expect(parseFlags(['add', 'folder'], specs, {}, 'manifest', 'own')._).toEqual(['add', 'folder']);
  });

  it('none: an argument is an error (exit 2) with a hint', () => {
    const yaml = usageError(() => parseFlags(['models.yaml'], specs, {}, 'doctor'));
    expect(yaml.exitCode).toBe(2);
    expect(yaml.code).toBe('EUNEXPECTEDARG');
    expect(yaml.message).toBe('doctor takes no arguments, got "models.yaml".');
    expect(yaml.hint).toContain('--manifest models.yaml');
    expect(usageError(() => parseFlags(['student/v0_ja'], specs, {}, 'compose')).hint).toContain('modelmount update student/v0_ja');
    expect(usageError(() => parseFlags(['--', 'x'], specs, {}, 'gc')).message).toContain('"x"');
  });
});

const updateSpecs = [...COMMON_FLAGS, ...updateCommand.flags];
const fail = (argv: string[], env: NodeJS.ProcessEnv) => usageError(() => parseFlags(argv, updateSpecs, env, 'update'));

describe('environment variables', () => {
  it('a bad number names the variable and its value, not a flag the user never typed', () => {
    const err = fail([], { MODELS_JOBS: 'abc' });
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('MODELS_JOBS=abc: MODELS_JOBS must be a whole number ≥ 1.');
    expect(err.message).not.toContain('--jobs must');
    expect(err.hint).toContain('unset MODELS_JOBS');
    // the flag wins over the variable, and a bad flag still names the flag
    expect(parseFlags(['--jobs', '3'], updateSpecs, { MODELS_JOBS: 'abc' }).jobs).toBe(3);
    expect(fail(['--jobs', 'x'], {}).message).toBe('--jobs must be a whole number ≥ 1, got "x".');
  });

  it('a boolean variable takes true, false, 1 or 0 (any case); anything else is an error naming it', () => {
    for (const [text, want] of [['1', true], ['true', true], ['TRUE', true], ['0', false], ['false', false], ['False', false]] as const) {
      expect(parseFlags([], updateSpecs, { MODELS_YES: text }).yes, text).toBe(want);
    }
    for (const text of ['yes', 'no', 'off', 'maybe', '2']) {
      const err = fail([], { MODELS_YES: text });
      expect(err.message).toBe(`MODELS_YES=${text}: MODELS_YES must be true, false, 1 or 0.`);
    }
  });

  it('the CLI exits 2 with the message on stderr', async () => {
    const r = await runCliCaptured(['update', '--manifest', `${await tempDir()}/none.yaml`], { env: { MODELS_SMOKE: 'nope' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('MODELS_SMOKE=nope: MODELS_SMOKE must be true, false, 1 or 0.');
  });

  it('--flag=word reads the same words as its variable: --smoke=0 is false like MODELS_SMOKE=0', () => {
    for (const [text, want] of [['1', true], ['true', true], ['TRUE', true], ['0', false], ['false', false], ['False', false]] as const) {
      expect(parseFlags([`--smoke=${text}`], updateSpecs, {}).smoke, text).toBe(want);
      expect(parseFlags([`--yes=${text}`], updateSpecs, {}).yes, text).toBe(want);
    }
    // the flag still wins over the variable
    expect(parseFlags(['--smoke=0'], updateSpecs, { MODELS_SMOKE: '1' }).smoke).toBe(false);
  });

  it('--flag=word with another word is a usage error naming the accepted words', async () => {
    for (const text of ['yes', 'no', 'off', 'maybe', '2', '']) {
      const err = fail([`--smoke=${text}`], {});
      expect(err.message).toBe(`--smoke=${text}: --smoke must be true, false, 1 or 0.`);
      expect(err.hint).toContain('--no-smoke');
    }
    const r = await runCliCaptured(['update', '--manifest', `${await tempDir()}/none.yaml`, '--yes=maybe']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--yes=maybe: --yes must be true, false, 1 or 0.');
  });
});

/** What the parser accepts, pinned before it moved from minimist to node:util parseArgs. */
describe('parsing', () => {
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseFlags(argv, updateSpecs, env, 'update', 'artifacts');
  const parseError = (argv: string[], specs: FlagSpec[] = updateSpecs, command = 'update') => usageError(() => parseFlags(argv, specs, {}, command, command === 'update' ? 'artifacts' : undefined));

  it('aliases, --flag=value, short values attached or apart', () => {
    for (const argv of [['-j', '4'], ['-j4'], ['-j=4'], ['--jobs=4'], ['--jobs', '4']]) expect(parse(argv).jobs, argv.join(' ')).toBe(4);
    expect(parse(['-y', '-q'])).toMatchObject({ yes: true, quiet: true });
    expect(parse(['--manifest=m.yaml']).manifest).toBe('m.yaml');
  });

  it('lists by repeat or comma (blanks dropped); other flags repeated: the last wins', () => {
    expect(parse(['--only', 'a,b', '--only', 'c']).only).toEqual(['a', 'b', 'c']);
    expect(parse(['--only=a, b,,']).only).toEqual(['a', 'b']);
    expect(parse([], { MODELS_ONLY: 'a, b' }).only).toEqual(['a', 'b']);
    expect(parse(['--jobs', '2', '--jobs', '3']).jobs).toBe(3);
    expect(parse(['--manifest', 'a', '--manifest=b']).manifest).toBe('b');
  });

  it('booleans: --no-x turns off, --x=false and --x false too; defaults and MODELS_* fall back (flag > env > default)', () => {
    const none = parse([]);
    expect(none).toMatchObject({ yes: false, smoke: true, compose: true, wait: true });
    expect(none.jobs).toBeUndefined();
    expect(parse(['--no-smoke', '--no-wait'])).toMatchObject({ smoke: false, wait: false });
    expect(parse(['--no-yes'], { MODELS_YES: '1' }).yes).toBe(false);
    expect(parse(['--yes'], { MODELS_YES: '0' }).yes).toBe(true);
    expect(parse([], { MODELS_YES: '1', MODELS_SMOKE: 'false' })).toMatchObject({ yes: true, smoke: false });
    expect(parse(['--yes=false']).yes).toBe(false);
    expect(parse(['--yes=true']).yes).toBe(true);
    expect(parse(['--yes', 'false']).yes).toBe(false);
    expect(parse(['-y', 'false']).yes).toBe(false);
    expect(parse(['--yes', '--yes']).yes).toBe(true);
  });

  it('numbers: flag > env > default, MODELS_X="" is unset, the minimum is checked', () => {
    expect(parse([], { MODELS_JOBS: '5' }).jobs).toBe(5);
    expect(parse(['--jobs', '2'], { MODELS_JOBS: '5' }).jobs).toBe(2);
    expect(parse([], { MODELS_JOBS: '' }).jobs).toBeUndefined();
    expect(parse(['--retries', '0']).retries).toBe(0);
    expect(parseError(['--jobs', '0']).message).toBe('--jobs must be a whole number ≥ 1, got "0".');
    expect(parseError(['--jobs', '1.5']).message).toBe('--jobs must be a whole number ≥ 1, got "1.5".');
    expect(parseError(['--retries', '-1']).message).toMatch(/^Unknown option for update: -1/);
  });

  it('a value that is missing or looks like an option: needs a value (the option after it still counts)', () => {
    for (const argv of [['--manifest'], ['--manifest='], ['--manifest', '--yes']]) expect(parseError(argv).message, argv.join(' ')).toBe('--manifest needs a value (PATH).');
    expect(parseError(['--jobs']).hint).toContain('e.g. --jobs N');
    expect(parseError(['--manifest', '--bogus']).message).toBe('Unknown option for update: --bogus');
  });

  it('which names were answered by a flag or a variable, not by a default', () => {
    const f = parse(['--no-smoke', '--jobs', '2'], { MODELS_YES: '1' });
    for (const name of ['smoke', 'jobs', 'yes'] as const) expect(f.given.has(name), name).toBe(true);
    for (const name of ['compose', 'wait', 'only', 'manifest'] as const) expect(f.given.has(name), name).toBe(false);
  });

  it('unknown options: all of them, with "did you mean", and a hint when a command that does not select is given selection flags', () => {
    expect(parseError(['--foo', '--bar=1', '-z']).message).toBe('Unknown options for update: --foo, --bar=1, -z');
    const typo = parseError(['--dryrun']);
    expect(typo.message).toBe('Unknown option for update: --dryrun (did you mean --dry-run?)');
    expect(typo.hint).toBe('Run `modelmount update --help` to see the options.');
    expect(parseError(['--Yes']).message).toBe('Unknown option for update: --Yes (did you mean --yes?)');
    const doctorSpecs = [...COMMON_FLAGS, { name: 'full', type: 'boolean', help: '' } as FlagSpec];
    const selecting = parseError(['--only=x', '--labels', 'a=b'], doctorSpecs, 'doctor');
    expect(selecting.message).toBe('Unknown options for doctor: --only=x, --labels');
    expect(selecting.hint).toBe(
      'doctor does not select artifacts: it acts on the installed set, which `modelmount update --only IDS` adds to and `modelmount update --prune …` replaces. Run `modelmount doctor --help` to see the options.',
    );
  });

  it('fixed with the move to parseArgs: grouped short flags all count, a number needs a value, arguments stay as typed, --no- only for switches', () => {
    expect(parse(['-yq'])).toMatchObject({ yes: true, quiet: true });
    expect(parse(['-yj', '3'])).toMatchObject({ yes: true, jobs: 3 });
    expect(parseError(['--retries']).message).toBe('--retries needs a value (N).');
    expect(parseError(['--jobs']).message).toBe('--jobs needs a value (N).');
    expect(parse(['007']).only).toEqual(['007']);
    expect(parseError(['--no-jobs']).message).toBe('Unknown option for update: --no-jobs (did you mean --jobs?)');
    expect(parseError(['--no-only']).message).toBe('Unknown option for update: --no-only (did you mean --only?)');
  });

  it("types come from the spec table: a switch is a boolean, a value flag is absent unless given", () => {
    const f = parse([]);
    expectTypeOf(f.jobs).toEqualTypeOf<number | undefined>();
    expectTypeOf(f.only).toEqualTypeOf<string[] | undefined>();
    expectTypeOf(f.manifest).toEqualTypeOf<string | undefined>();
    expectTypeOf(f.smoke).toEqualTypeOf<boolean>();
    expectTypeOf(f.given).toEqualTypeOf<ReadonlySet<(typeof updateSpecs)[number]['name']>>();
    expect('jobs' in f).toBe(false);
  });

  it('`--` ends the options: what follows is an argument even if it looks like one', () => {
    expect(parse(['a', '--', 'b', '--yes'])).toMatchObject({ only: ['a', 'b', '--yes'], yes: false });
    expect(parseFlags(['add', '--json', '--', '--x'], specs.concat({ name: 'json', type: 'boolean', help: '' }), {}, 'manifest', 'own')).toMatchObject({ _: ['add', '--x'], json: true });
  });
});
