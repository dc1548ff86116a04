/** parseFlags: what arguments that are not options mean per command, and MODELS_* variables: errors name what the user actually set. */
import { describe, expect, it } from 'vitest';
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
    expect(f._set).toContain('only');
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
});
