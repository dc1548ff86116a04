/** Flags and their MODELS_* environment variables: errors name what the user actually set. */
import { describe, expect, it } from 'vitest';
import { COMMON_FLAGS, parseFlags } from '../lib/cli/args.ts';
import { updateCommand } from '../lib/commands/update-command.ts';
import { UsageError } from '../lib/errors.ts';
import { runCliCaptured, tempDir } from './helpers/cli.ts';

const specs = [...COMMON_FLAGS, ...updateCommand.flags];
const fail = (argv: string[], env: NodeJS.ProcessEnv) => {
  try {
    parseFlags(argv, specs, env, 'update');
  } catch (err) {
    return err as UsageError;
  }
  throw new Error('parseFlags did not fail');
};

describe('environment variables', () => {
  it('a bad number names the variable and its value, not a flag the user never typed', () => {
    const err = fail([], { MODELS_JOBS: 'abc' });
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('MODELS_JOBS=abc: MODELS_JOBS must be a whole number ≥ 1.');
    expect(err.message).not.toContain('--jobs must');
    expect(err.hint).toContain('unset MODELS_JOBS');
    // the flag wins over the variable, and a bad flag still names the flag
    expect(parseFlags(['--jobs', '3'], specs, { MODELS_JOBS: 'abc' }).jobs).toBe(3);
    expect(fail(['--jobs', 'x'], {}).message).toBe('--jobs must be a whole number ≥ 1, got "x".');
  });

  it('a boolean variable takes true, false, 1 or 0 (any case); anything else is an error naming it', () => {
    for (const [text, want] of [['1', true], ['true', true], ['TRUE', true], ['0', false], ['false', false], ['False', false]] as const) {
      expect(parseFlags([], specs, { MODELS_YES: text }).yes, text).toBe(want);
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
