/** parseFlags: what arguments that are not options mean, per command. */
import { describe, expect, it } from 'vitest';
import { parseFlags, type FlagSpec } from '../lib/cli/args.ts';
import { SELECTION_FLAGS } from '../lib/commands/specs.ts';
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
