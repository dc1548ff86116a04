import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseManifest } from '../lib/manifest/load.ts';
import { checkRequire, filterByLabelChoice, orderSources, parseLabelFlags, planInstalledSet, selectArtifacts } from '../lib/manifest/select.ts';
import { usageError } from './helpers/usage-error.ts';

const sha = (c: string): string => c.repeat(64);
const file = (c: string) => [{ path: 'model.safetensors', size: 1, sha256: sha(c) }];

const manifest = parseManifest(
  stringify({
    version: 1,
    hostDir: 'artifacts',
    sources: [
      { name: 'mirror', url: 'https://m.example/ml/' },
      { name: 'nfs', url: 'file:///mnt/models/' },
      { name: 'local', url: '../models' },
    ],
    require: [{ anyOf: ['student/v0_ja', 'student/v0_en'] }],
    artifacts: [
      { id: 'student/v0_ja', labels: { role: 'student', lang: 'ja' }, files: file('a') },
      { id: 'student/v0_en', labels: { role: 'student', lang: 'en' }, files: file('b') },
      { id: 'teacher/v0', labels: { role: 'teacher', lang: 'ja' }, optional: true, files: file('c') },
      { id: 'tools/tokenizer', files: file('d') },
    ],
  }),
  '/p/models.yaml',
);

const ids = (opts: Parameters<typeof selectArtifacts>[1]): string[] => selectArtifacts(manifest, opts).map((a) => a.id);


describe('selectArtifacts', () => {
  it('defaults to every non-optional artifact, in manifest order', () => {
    expect(ids({})).toEqual(['student/v0_ja', 'student/v0_en', 'tools/tokenizer']);
    expect(ids({ only: [], labels: {} })).toEqual(['student/v0_ja', 'student/v0_en', 'tools/tokenizer']);
  });

  it('includes optional artifacts on request', () => {
    expect(ids({ includeOptional: true })).toEqual(['student/v0_ja', 'student/v0_en', 'teacher/v0', 'tools/tokenizer']);
  });

  it('--only takes exactly the named ids, optional ones included, in manifest order', () => {
    expect(ids({ only: ['teacher/v0', 'student/v0_ja'] })).toEqual(['student/v0_ja', 'teacher/v0']);
  });

  it('--only with an unknown id lists the valid ids', () => {
    const e = usageError(() => ids({ only: ['student/v0_jp'] }));
    expect(e.code).toBe('EUNKNOWNID');
    expect(e.message).toContain('student/v0_jp');
    expect(e.hint).toContain('student/v0_ja, student/v0_en, teacher/v0, tools/tokenizer');
    expect(e.hint).toContain('Did you mean "student/v0_ja"?');
  });

  it('--labels: values of one key are OR-ed', () => {
    expect(ids({ labels: { lang: ['ja', 'en'] } })).toEqual(['student/v0_ja', 'student/v0_en', 'teacher/v0']);
  });

  it('--labels: different keys are AND-ed, and optional artifacts can match', () => {
    expect(ids({ labels: { lang: ['ja'] } })).toEqual(['student/v0_ja', 'teacher/v0']);
    expect(ids({ labels: { lang: ['ja'], role: ['student'] } })).toEqual(['student/v0_ja']);
    expect(ids({ labels: { role: ['teacher'] } })).toEqual(['teacher/v0']);
  });

  it('--include-optional with --only or --labels also takes the optional artifacts the labels do not rule out', () => {
    expect(ids({ only: ['student/v0_en'], includeOptional: true })).toEqual(['student/v0_en', 'teacher/v0']);
    expect(ids({ labels: { lang: ['en'] }, includeOptional: true })).toEqual(['student/v0_en']); // the teacher is lang=ja
    expect(ids({ labels: { role: ['student'] }, includeOptional: true })).toEqual(['student/v0_ja', 'student/v0_en']);
  });

  it('--only and --labels filter together', () => {
    expect(ids({ only: ['student/v0_ja', 'student/v0_en'], labels: { lang: ['en'] } })).toEqual(['student/v0_en']);
    const e = usageError(() => ids({ only: ['student/v0_ja'], labels: { lang: ['en'] } }));
    expect(e.code).toBe('EEMPTYSELECTION');
    expect(e.message).toContain('--only student/v0_ja and --labels lang=en');
  });

  it('an unknown label key lists the known keys', () => {
    const e = usageError(() => ids({ labels: { language: ['ja'] } }));
    expect(e.code).toBe('EUNKNOWNLABEL');
    expect(e.message).toContain('language');
    expect(e.hint).toContain('lang, role');
  });

  it('an unknown label value lists the known values', () => {
    const e = usageError(() => ids({ labels: { lang: ['fr'] } }));
    expect(e.message).toContain('lang=fr');
    expect(e.hint).toContain('en, ja');
  });
});

describe('checkRequire', () => {
  it('passes when each rule has one selected id', () => {
    expect(() => checkRequire(manifest, ['student/v0_en'])).not.toThrow();
    expect(() => checkRequire(manifest, new Set(['student/v0_ja', 'teacher/v0']))).not.toThrow();
  });

  it('fails with EREQUIRE naming the rule and how to satisfy it', () => {
    const e = usageError(() => checkRequire(manifest, ['teacher/v0']));
    expect(e.code).toBe('EREQUIRE');
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('require[0]');
    expect(e.message).toContain('select at least one of student/v0_ja, student/v0_en, e.g. --only student/v0_ja');
    expect(e.hint).toContain('--only teacher/v0 --only student/v0_ja');
  });

  it('fails for an empty selection and names every failed rule', () => {
    const m = { ...manifest, require: [...manifest.require, { anyOf: ['tools/tokenizer'] }] };
    const e = usageError(() => checkRequire(m, []));
    expect(e.message).toContain('require[0]');
    expect(e.message).toContain('require[1]: select at least one of tools/tokenizer');
  });

  it('the default selection of the manifest satisfies its rules', () => {
    expect(() => checkRequire(manifest, ids({}))).not.toThrow();
  });
});

describe('parseLabelFlags', () => {
  it.each<[string[], Record<string, string[]>]>([
    [[], {}],
    [['lang=ja'], { lang: ['ja'] }],
    [['lang=ja,en'], { lang: ['ja', 'en'] }],
    [['lang=ja', 'lang=en'], { lang: ['ja', 'en'] }],
    [['lang=ja', 'role=student'], { lang: ['ja'], role: ['student'] }],
    [['lang=ja,en,role=student'], { lang: ['ja', 'en'], role: ['student'] }],
    [['lang = ja , en'], { lang: ['ja', 'en'] }],
    [['lang=ja', 'lang=ja'], { lang: ['ja'] }],
    [['v=0.1'], { v: ['0.1'] }],
  ])('%j', (input, expected) => {
    expect(parseLabelFlags(input)).toEqual(expected);
  });

  it.each([['lang'], ['=ja'], ['lang='], ['lang=ja,,en'], [''], ['lang=j a'], ['l ang=ja'], ['lang=ja=en'], ['lang=-x']])('rejects %j', (value) => {
    const e = usageError(() => parseLabelFlags([value]));
    expect(e.code).toBe('EBADLABEL');
    expect(e.hint).toContain('--labels lang=ja');
  });
});

describe('orderSources', () => {
  it('keeps manifest order without a preference', () => {
    expect(orderSources(manifest.sources).map((s) => s.name)).toEqual(['mirror', 'nfs', 'local']);
  });

  it('puts the preferred source first', () => {
    expect(orderSources(manifest.sources, 'local').map((s) => s.name)).toEqual(['local', 'mirror', 'nfs']);
    expect(orderSources(manifest.sources, 'mirror').map((s) => s.name)).toEqual(['mirror', 'nfs', 'local']);
  });

  it('an unknown name lists the sources', () => {
    const e = usageError(() => orderSources(manifest.sources, 'mirrror'));
    expect(e.code).toBe('EUNKNOWNSOURCE');
    expect(e.hint).toContain('mirror, nfs, local');
    expect(e.hint).toContain('Did you mean "mirror"?');
  });

  it('does not mutate its input', () => {
    const before = manifest.sources.map((s) => s.name);
    orderSources(manifest.sources, 'nfs');
    expect(manifest.sources.map((s) => s.name)).toEqual(before);
  });
});

describe('filterByLabelChoice (the interactive label question)', () => {
  const offered = { lang: ['en', 'ja'] };
  it('drops an artifact whose value was offered and not chosen; keeps one without the key', () => {
    expect(filterByLabelChoice(manifest.artifacts, { lang: ['en'] }).map((a) => a.id)).toEqual(['student/v0_en', 'tools/tokenizer']);
    expect(filterByLabelChoice(manifest.artifacts, { lang: ['en'] }, offered).map((a) => a.id)).toEqual(['student/v0_en', 'tools/tokenizer']);
  });

  it('keeps an artifact whose value was never offered (e.g. an optional lang=multi teacher), so the optional question can ask about it', () => {
    const withMulti = manifest.artifacts.map((a) => (a.id === 'teacher/v0' ? { ...a, labels: { role: 'teacher', lang: 'multi' } } : a));
    expect(filterByLabelChoice(withMulti, { lang: ['en', 'ja'] }, offered).map((a) => a.id)).toContain('teacher/v0');
    expect(filterByLabelChoice(withMulti, { lang: ['en'] }, offered).map((a) => a.id)).toEqual(['student/v0_en', 'teacher/v0', 'tools/tokenizer']);
  });
});

describe('planInstalledSet', () => {
  const pick = (...wanted: string[]) => manifest.artifacts.filter((a) => wanted.includes(a.id));
  it('adds the selection to what is installed, in manifest order', () => {
    const r = planInstalledSet(manifest, ['student/v0_en', 'tools/tokenizer'], pick('teacher/v0'), { prune: false });
    expect(r.artifacts.map((a) => a.id)).toEqual(['student/v0_en', 'teacher/v0', 'tools/tokenizer']);
    expect(r).toMatchObject({ added: ['teacher/v0'], kept: ['student/v0_en', 'tools/tokenizer'], removed: [] });
  });

  it('--prune: exactly the selection; what leaves is named', () => {
    const r = planInstalledSet(manifest, ['student/v0_en', 'tools/tokenizer'], pick('student/v0_ja', 'tools/tokenizer'), { prune: true });
    expect(r.artifacts.map((a) => a.id)).toEqual(['student/v0_ja', 'tools/tokenizer']);
    expect(r).toMatchObject({ added: ['student/v0_ja'], kept: [], removed: ['student/v0_en'] });
  });

  it('ignores installed ids the manifest no longer lists', () => {
    const r = planInstalledSet(manifest, ['student/v0_fr', 'student/v0_ja'], pick('student/v0_ja'), { prune: false });
    expect(r.artifacts.map((a) => a.id)).toEqual(['student/v0_ja']);
    expect(r).toMatchObject({ added: [], kept: [], removed: [] });
  });
});
