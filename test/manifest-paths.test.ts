import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkSafeRelativePath, findCollisions, foldPath } from '../lib/manifest/paths.ts';

const UNSAFE: Array<[string, string]> = [
  ['', 'empty'],
  ['/', 'root'],
  ['/abs', 'absolute'],
  ['/etc/passwd', 'absolute, deep'],
  ['..', 'parent'],
  ['../x', 'leading ..'],
  ['a/../b', 'inner ..'],
  ['a/..', 'trailing ..'],
  ['.', 'dot'],
  ['./a', 'leading dot segment'],
  ['a/./b', 'inner dot segment'],
  ['a//b', 'empty segment'],
  ['a/', 'trailing slash'],
  ['//a', 'double leading slash'],
  ['a\\b', 'backslash'],
  ['..\\x', 'backslash traversal'],
  ['C:', 'drive letter alone'],
  ['c:foo', 'drive-relative'],
  ['C:/x', 'drive with slash'],
  ['D:\\models', 'drive with backslash'],
  ['a:b', 'colon (drive-relative on Windows)'],
  ['model.bin:stream', 'colon (NTFS stream)'],
  ['a\0b', 'NUL'],
  ['a\nb', 'newline'],
  ['a\rb', 'carriage return'],
  ['a\tb', 'tab'],
  ['\x1b[31mred', 'escape sequence'],
  ['a\x7f', 'DEL'],
  ['a\u0085b', 'C1 next-line'],
  ['a\u2028b', 'line separator'],
  ['evil\u202Etxt.exe', 'bidi override'],
  ['x\u2066y', 'bidi isolate'],
  ['...', 'all dots'],
  ['a/..../b', 'all dots inner'],
  [' model.bin', 'leading space'],
  ['model.bin ', 'trailing space'],
  ['v0.', 'trailing dot'],
  ['CON', 'Windows device'],
  ['nul.txt', 'Windows device with extension'],
  ['a/aux', 'Windows device nested'],
  ['com1', 'Windows COM port'],
  ['LPT9.log', 'Windows LPT port'],
  ['a'.repeat(256), 'segment over 255 bytes'],
  [`${'é'.repeat(128)}`, 'segment over 255 bytes in UTF-8'],
  [Array.from({ length: 300 }, () => 'abcd').join('/'), 'path over 1024 bytes'],
];

const SAFE = [
  'model.safetensors',
  'student/v0_ja',
  'student/v0.1',
  'v0.1.2',
  'tokenizer/vocab.json',
  'a-b_c.d',
  '.hidden',
  '..foo',
  'foo..bar',
  'モデル/学生',
  'café/é.bin',
  'Ωmega',
  'model-00001-of-00002.safetensors',
  'console', // starts like CON but is not a device name
  'con-fig.json',
  '~',
  '~/x', // ~ is not expanded: it is an ordinary name
  'a b/c d', // inner spaces are fine
  '🙂/emoji',
];

describe('checkSafeRelativePath', () => {
  it('has at least 25 distinct unsafe cases', () => {
    expect(new Set(UNSAFE.map(([p]) => p)).size).toBe(UNSAFE.length);
    expect(UNSAFE.length).toBeGreaterThanOrEqual(25);
  });

  it.each(UNSAFE)('rejects %j (%s)', (p) => {
    const reason = checkSafeRelativePath(p);
    expect(reason).toBeTypeOf('string');
    expect(reason!.length).toBeGreaterThan(3);
  });

  it.each(SAFE.map((p) => [p]))('accepts %j', (p) => {
    expect(checkSafeRelativePath(p)).toBeUndefined();
  });

  it('gives reasons a person can act on', () => {
    expect(checkSafeRelativePath('../x')).toMatch(/\.\./);
    expect(checkSafeRelativePath('/x')).toMatch(/absolute/);
    expect(checkSafeRelativePath('a\\b')).toMatch(/backslash/);
    expect(checkSafeRelativePath('C:x')).toMatch(/drive letter/);
    expect(checkSafeRelativePath('a\0b')).toMatch(/U\+0000/);
    expect(checkSafeRelativePath('a//b')).toMatch(/empty/);
    expect(checkSafeRelativePath('a/')).toMatch(/ends with/);
  });

  it('never accepts a path that escapes or is absolute (property)', () => {
    const seg = fc.oneof(fc.constantFrom('..', '.', '', 'a', 'b.c', '\\', 'C:'), fc.string({ maxLength: 4 }));
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 6 }), (segs) => {
        const p = segs.join('/');
        if (checkSafeRelativePath(p) !== undefined) return;
        // accepted: joining under a root must stay strictly inside it
        const parts = p.split('/');
        expect(p.startsWith('/')).toBe(false);
        expect(parts).not.toContain('..');
        expect(parts).not.toContain('.');
        expect(parts).not.toContain('');
        expect(p).not.toMatch(/[\\\0]/);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('foldPath / findCollisions', () => {
  const composed = 'caf\u00e9.bin';
  const decomposed = 'cafe\u0301.bin';

  it('folds case and Unicode normalisation', () => {
    expect(composed).not.toBe(decomposed);
    expect(foldPath(composed)).toBe(foldPath(decomposed));
    expect(foldPath('Model.bin')).toBe(foldPath('model.bin'));
    expect(foldPath('STRASSE')).toBe(foldPath('straße'));
    expect(foldPath('\u212Aelvin')).toBe(foldPath('kelvin')); // Kelvin sign
  });

  it('finds exact duplicates', () => {
    expect(findCollisions(['a', 'b', 'a'])).toEqual([{ kind: 'same', paths: ['a', 'a'], indexes: [0, 2] }]);
  });

  it('finds case collisions', () => {
    expect(findCollisions(['Model.bin', 'config.json', 'model.bin'])).toEqual([
      { kind: 'fold', paths: ['Model.bin', 'model.bin'], indexes: [0, 2] },
    ]);
  });

  it('finds NFC/NFD collisions', () => {
    expect(findCollisions([composed, decomposed])).toEqual([{ kind: 'fold', paths: [composed, decomposed], indexes: [0, 1] }]);
  });

  it('finds a file that is also a folder of another path, in either order and through case', () => {
    expect(findCollisions(['a', 'a/b'])).toEqual([{ kind: 'prefix', paths: ['a', 'a/b'], indexes: [0, 1] }]);
    expect(findCollisions(['x/y/z', 'x'])).toEqual([{ kind: 'prefix', paths: ['x', 'x/y/z'], indexes: [1, 0] }]);
    expect(findCollisions(['x/y/z', 'x/y'])).toEqual([{ kind: 'prefix', paths: ['x/y', 'x/y/z'], indexes: [1, 0] }]);
    expect(findCollisions(['Student', 'student/v0_ja'])).toEqual([
      { kind: 'prefix', paths: ['Student', 'student/v0_ja'], indexes: [0, 1] },
    ]);
  });

  it('does not flag siblings or shared prefixes of names', () => {
    expect(findCollisions(['a/b', 'a/c', 'ab', 'a.b', 'student/v0_ja', 'student/v0_en', 'student/v0_ja2'])).toEqual([]);
  });
});

describe('foldPath: the ASCII shortcut (issue 15)', () => {
  const fullFold = (p: string) => p.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');
  it('gives what the full fold gives, for ASCII and for anything else', () => {
    for (const p of ['Model.BIN', 'a/B/c', '', 'I', 'tokenizer/00/F00001.bin', 'caf\u00e9', 'cafe\u0301', 'STRA\u00dfE', '\u212Aelvin', '\u0130x']) {
      expect(foldPath(p)).toBe(fullFold(p));
    }
    fc.assert(fc.property(fc.string({ unit: 'grapheme-ascii' }), (p) => foldPath(p) === fullFold(p)), { numRuns: 500 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (p) => foldPath(p) === fullFold(p)), { numRuns: 500 });
  });

  it('findCollisions reports a nested path below a deep parent once per parent', () => {
    expect(findCollisions(['a/b/c/d', 'a', 'a/b', 'A/B'])).toEqual([
      { kind: 'fold', paths: ['a/b', 'A/B'], indexes: [2, 3] },
      { kind: 'prefix', paths: ['a', 'a/b/c/d'], indexes: [1, 0] },
      { kind: 'prefix', paths: ['a/b', 'a/b/c/d'], indexes: [2, 0] },
      { kind: 'prefix', paths: ['A/B', 'a/b/c/d'], indexes: [3, 0] },
      { kind: 'prefix', paths: ['a', 'a/b'], indexes: [1, 2] },
      { kind: 'prefix', paths: ['a', 'A/B'], indexes: [1, 3] },
    ]);
  });
});
