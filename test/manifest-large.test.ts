/**
 * Large manifests: one over the size limit (16 MiB) is refused with exit 2 before it is parsed;
 * 20,000 artifacts (~4 MB of YAML) parse and plan correctly (the time and memory are measured by
 * `npm run bench:manifest`, never asserted here). A valid manifest takes a fast path (js-yaml with
 * YAML 1.2 core scalars); anything it would read differently from the yaml Document path (YAML 1.1
 * numbers, directives, anchors) or any problem goes the Document path, which reports file:line.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestError, UsageError } from '../lib/errors.ts';
import { MAX_MANIFEST_BYTES, parseManifest } from '../lib/manifest/load.ts';
import { parseManifestDocument } from '../lib/manifest/parse-yaml.ts';
import { runCliCaptured, tempDir } from './helpers/cli.ts';

const sha = (i: number) => createHash('sha256').update(String(i)).digest('hex');

function bigManifest(n: number): string {
  const lines = ['version: 1', 'hostDir: host', 'cacheDir: cache', 'sources:', '  - name: mirror', '    url: "https://models.example.com/ml/"', 'artifacts:'];
  for (let i = 0; i < n; i++) {
    lines.push(
      `  - id: team${i % 50}/model_${i}`,
      `    labels: {role: student, lang: l${i % 7}}`,
      ...(i % 1000 === 0 ? ['    optional: true'] : []),
      '    files:',
      `      - {path: model.safetensors, size: ${1000 + i}, sha256: ${sha(i)}}`,
      `      - path: config.json`,
      `        size: ${10 + (i % 90)}`,
      `        sha256: "${sha(-i - 1)}"`,
    );
  }
  return `${lines.join('\n')}\n`;
}

describe('manifest size limit', () => {
  it('a manifest over 16 MiB: exit 2 naming the size and the limit, before parsing', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'models.yaml');
    const head = 'version: 1\nhostDir: host\nsources: [{name: m, url: "https://models.example.com/"}]\nartifacts: []\n';
    await fs.writeFile(file, head + `# ${'x'.repeat(1000)}\n`.repeat(Math.ceil((MAX_MANIFEST_BYTES + 1) / 1003)));
    const r = await runCliCaptured(['update', '--dry-run', '--manifest', file, '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.error.code).toBe('EMANIFESTSIZE');
    expect(doc.error.message).toMatch(/16 MiB/);
    expect(r.stderr).toMatch(/larger than the 16 MiB limit/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('parseManifest refuses text over the limit too (every caller)', () => {
    const text = `version: 1\n# ${'y'.repeat(MAX_MANIFEST_BYTES)}\n`;
    expect(() => parseManifest(text, '/p/m.yaml')).toThrow(UsageError);
  });
});

describe('20,000 artifacts', () => {
  const text = bigManifest(20_000);

  it('parse to the right artifacts and files', () => {
    expect(text.length).toBeGreaterThan(3_000_000);
    const m = parseManifest(text, '/proj/manifests/models.yaml');
    expect(m.artifacts).toHaveLength(20_000);
    expect(m.artifacts[12_345]).toEqual({
      id: 'team45/model_12345',
      labels: { role: 'student', lang: `l${12_345 % 7}` },
      optional: false,
      files: [
        { path: 'model.safetensors', size: 13_345, sha256: sha(12_345) },
        { path: 'config.json', size: 10 + (12_345 % 90), sha256: sha(-12_346) },
      ],
    });
    expect(m.artifacts[3000]!.optional).toBe(true);
  });

  it('the first 2,000 of them: the fast path reads exactly what the Document path reads, digest included', () => {
    const small = bigManifest(2_000);
    expect(parseManifest(small, '/proj/manifests/models.yaml')).toEqual(parseManifestDocument(small, '/proj/manifests/models.yaml'));
  });

  it('update --dry-run plans every non-optional artifact', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'models.yaml');
    await fs.writeFile(file, text);
    const r = await runCliCaptured(['update', '--dry-run', '--json', '--manifest', file]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.selection).toHaveLength(20_000 - 20);
    expect(doc.plan.files.length).toBe(2 * (20_000 - 20));
    expect(doc.plan.files.every((f: { action: string }) => f.action === 'fetch')).toBe(true);
    // the text line names a few and counts the rest (it listed all 19,980 ids, ~300 KB); JSON keeps them all
    const selected = r.stderr.split('\n').find((l) => l.startsWith('Selected '));
    expect(selected).toMatch(/^Selected team1\/model_1, team2\/model_2, .* and 19972 more \(every non-optional artifact;/);
    expect(selected!.length).toBeLessThan(400);
    expect(doc.selection[19_979]).toBe('team49/model_19999');
  }, 120_000);
});

describe('the fast path reads nothing differently from the Document path', () => {
  const base = (extra: string) =>
    `version: 1\nhostDir: host\nsources: [{name: m, url: "https://models.example.com/"}]\nartifacts:\n  - id: a/b\n    files:\n      - {path: f.bin, size: SIZE, sha256: ${sha(1)}}\n${extra}`;
  const cases: [string, string][] = [
    ['YAML 1.1 underscore number', base('').replace('SIZE', '1_000')],
    ['YAML 1.1 binary number', base('').replace('SIZE', '0b101')],
    ['YAML 1.1 boolean', `${base('').replace('SIZE', '10')}    optional: yes\n`],
    ['a %YAML 1.1 directive', `%YAML 1.1\n---\n${base('').replace('SIZE', '1_000')}`],
    ['duplicate keys', `${base('').replace('SIZE', '10')}hostDir: other\n`],
    ['an unknown tag', base('').replace('SIZE', '!!binary 10')],
    ['a timestamp where a string is wanted', `${base('').replace('SIZE', '10')}    env: 2024-01-01\n`],
    ['YAML 1.2 hex and octal numbers', base('').replace('SIZE', '0x10')],
    ['an alias', `x: &s 10\n${base('').replace('SIZE', '*s')}`],
    ['valid', base('').replace('SIZE', '10')],
  ];
  for (const [name, text] of cases) {
    it(name, () => {
      const outcome = (fn: () => unknown) => {
        try {
          return { ok: fn() };
        } catch (err) {
          if (err instanceof ManifestError) return { problems: err.problems };
          throw err;
        }
      };
      expect(outcome(() => parseManifest(text, '/p/m.yaml'))).toEqual(outcome(() => parseManifestDocument(text, '/p/m.yaml')));
    });
  }
});
