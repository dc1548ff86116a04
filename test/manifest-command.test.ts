/**
 * `modelmount manifest add` / `check` on real folders and manifests: entries
 * added or updated with only their own lines changed (comments survive),
 * symlinks and unsafe names refused, the result validated before it is
 * written, and `check` listing every problem with exit 2.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ManifestAddReport } from '../lib/author/manifest-add.ts';
import type { ManifestCheckReport } from '../lib/author/manifest-check.ts';
import { upsertArtifact } from '../lib/manifest/upsert-artifact.ts';
import { loadManifest } from '../lib/manifest/load.ts';
import { manifestYaml, runCliCaptured, sampleArtifacts, sha256, tempDir, tempProject } from './helpers/cli.ts';

const COMMENTED = `# The team's models. Keep this comment!
version: 1
hostDir: host # where containers look
cacheDir: cache
sources:
  - name: share
    url: origin # the NFS share, mounted here
artifacts:
  # the current Japanese student
  - id: student/v0_ja
    labels: { role: student, lang: ja }
    env: STUDENT_JA_DIR
    files:
      - path: model.bin
        size: 3
        sha256: ${sha256(Buffer.from('abc'))} # hashed by hand

# trailing comment about nothing in particular
`;

async function project(text = COMMENTED) {
  const dir = await tempDir();
  const manifest = path.join(dir, 'models.yaml');
  await fs.writeFile(manifest, text);
  const origin = path.join(dir, 'origin');
  await fs.mkdir(path.join(origin, 'student/v0_ja'), { recursive: true });
  await fs.writeFile(path.join(origin, 'student/v0_ja/model.bin'), 'abc');
  return { dir, manifest, origin };
}

/** An artifact folder under the source root, so `update` can install what `add` described. */
async function artifactFolder(origin: string, id: string, files: Record<string, Buffer | string>): Promise<string> {
  const folder = path.join(origin, id);
  for (const [p, data] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(folder, p)), { recursive: true });
    await fs.writeFile(path.join(folder, p), data);
  }
  return folder;
}

async function add(manifest: string, args: string[]) {
  const r = await runCliCaptured(['manifest', 'add', ...args, '--manifest', manifest, '--json']);
  return { ...r, report: r.code === 0 ? (JSON.parse(r.stdout) as ManifestAddReport) : undefined };
}

describe('manifest add', () => {
  it('adds a new artifact with hashed files; every other line, comments included, stays byte for byte; update installs it', async () => {
    const p = await project();
    const big = randomBytes(300_000);
    const folder = await artifactFolder(p.origin, 'student/v1_ja', { 'model.safetensors': big, 'tokenizer/vocab.txt': 'a\nb\n', 'config.json': '{}' });
    const r = await add(p.manifest, [folder, '--id', 'student/v1_ja', '--labels', 'role=student,lang=ja', '--env', 'STUDENT_JA_V1_DIR', '--description', 'v1: the new one']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({ action: 'add', created: true, id: 'student/v1_ja', dryRun: false, bytes: big.length + 4 + 2 });
    expect(r.report!.files).toEqual([
      { path: 'config.json', size: 2, sha256: sha256(Buffer.from('{}')) },
      { path: 'model.safetensors', size: big.length, sha256: sha256(big) },
      { path: 'tokenizer/vocab.txt', size: 4, sha256: sha256(Buffer.from('a\nb\n')) },
    ]);
    expect(r.report!.changes).toEqual({ added: ['config.json', 'model.safetensors', 'tokenizer/vocab.txt'], removed: [], changed: [], unchanged: 0 });

    const text = await fs.readFile(p.manifest, 'utf8');
    expect(text).toContain("# The team's models. Keep this comment!");
    expect(text).toContain('# trailing comment about nothing in particular');
    // only an insertion: removing the new entry gives back the original exactly
    const start = text.indexOf('  - id: student/v1_ja');
    const end = text.indexOf('\n\n# trailing comment');
    expect(text.slice(0, start) + text.slice(end + 1)).toBe(COMMENTED.replace('# hashed by hand\n\n', '# hashed by hand\n\n'));
    expect(text.slice(start, end)).toBe(
      [
        '  - id: student/v1_ja',
        '    description: "v1: the new one"',
        '    labels: { role: student, lang: ja }',
        '    env: STUDENT_JA_V1_DIR',
        '    files:',
        '      - path: config.json',
        '        size: 2',
        `        sha256: ${sha256(Buffer.from('{}'))}`,
        '      - path: model.safetensors',
        `        size: ${big.length}`,
        `        sha256: ${sha256(big)}`,
        '      - path: tokenizer/vocab.txt',
        '        size: 4',
        `        sha256: ${sha256(Buffer.from('a\nb\n'))}`,
      ].join('\n'),
    );
    expect((await runCliCaptured(['manifest', 'check', '--manifest', p.manifest])).code).toBe(0);
    const up = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--only', 'student/v1_ja', '--no-compose', '--no-smoke']);
    expect(up.code, up.stderr).toBe(0);
    expect(sha256(await fs.readFile(path.join(p.dir, 'host/student/v1_ja/model.safetensors')))).toBe(sha256(big));
  });

  it('updates an existing artifact in place: new files replace the old list, its comments and other fields stay', async () => {
    const p = await project();
    const folder = path.join(p.origin, 'student/v0_ja');
    await fs.writeFile(path.join(folder, 'model.bin'), 'abcd');
    await fs.writeFile(path.join(folder, 'extra.json'), '[]');
    const r = await add(p.manifest, [folder, '--id', 'student/v0_ja']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({ created: false, changes: { added: ['extra.json'], changed: ['model.bin'], removed: [], unchanged: 0 } });
    const text = await fs.readFile(p.manifest, 'utf8');
    expect(text).toContain('  # the current Japanese student\n  - id: student/v0_ja\n    labels: { role: student, lang: ja }\n    env: STUDENT_JA_DIR\n    files:\n      - path: extra.json\n');
    expect(text).not.toContain('# hashed by hand'); // it described the old value
    expect(text).toContain('# where containers look');
    const m = await loadManifest(p.manifest);
    expect(m.artifacts).toHaveLength(1);
    expect(m.artifacts[0]!.files.map((f) => f.path)).toEqual(['extra.json', 'model.bin']);

    // the same folder again: nothing to change
    const again = await add(p.manifest, [folder, '--id', 'student/v0_ja']);
    expect(again.report!.changes).toEqual({ added: [], removed: [], changed: [], unchanged: 2 });
    expect(await fs.readFile(p.manifest, 'utf8')).toBe(text);
    const human = await runCliCaptured(['manifest', 'add', folder, '--id', 'student/v0_ja', '--manifest', p.manifest]);
    expect(human.stdout).toContain('student/v0_ja is already up to date');
    expect(human.stderr).toContain('Hashed 2 files'); // progress goes to stderr (never with --json)
  });

  it('keeps the flow style of a manifest that writes files as {path, size, sha256} maps', async () => {
    const artifacts = sampleArtifacts({ ja: 10, en: 10, teacher: 10 });
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'share', url: 'origin' }] }));
    const folder = await artifactFolder(path.join(p.dir, 'origin'), 'student/v0_en', { 'model.safetensors': 'new bytes' });
    const original = await fs.readFile(p.manifest, 'utf8');
    const r = await add(p.manifest, [folder, '--id', 'student/v0_en', '--labels', 'role=student,lang=en,gen=2']);
    expect(r.code, r.stderr).toBe(0);
    const text = await fs.readFile(p.manifest, 'utf8');
    expect(text).toContain(`      - { path: model.safetensors, size: 9, sha256: ${sha256(Buffer.from('new bytes'))} }\n`);
    expect(text).toContain('    labels: { role: student, lang: en, gen: "2" }\n');
    // the other artifacts' lines are untouched
    const ja = original.slice(original.indexOf('  - id: student/v0_ja'), original.indexOf('  - id: student/v0_en'));
    expect(text).toContain(ja);
  });

  it('refuses symlinks and unsafe names, listing every one, and writes nothing', async () => {
    const p = await project();
    const folder = await artifactFolder(p.origin, 'student/v2_ja', { 'model.bin': 'x', 'ok.json': '{}' });
    await fs.symlink('/etc/passwd', path.join(folder, 'passwd'));
    await fs.symlink('model.bin', path.join(folder, 'alias.bin'));
    await fs.writeFile(path.join(folder, 'bad:name.bin'), 'y');
    await fs.writeFile(path.join(folder, 'CON.txt'), 'z');
    const before = await fs.readFile(p.manifest, 'utf8');
    const r = await runCliCaptured(['manifest', 'add', folder, '--id', 'student/v2_ja', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string; data: { problems: string[] } } };
    expect(doc.error.code).toBe('EUNSAFEFOLDER');
    expect(doc.error.data.problems).toHaveLength(4);
    expect(doc.error.message).toContain('passwd is a symlink (to /etc/passwd)');
    expect(doc.error.message).toContain('alias.bin is a symlink');
    expect(doc.error.message).toContain('"bad:name.bin" contains ":"');
    expect(doc.error.message).toContain('"CON.txt" uses the reserved Windows device name');
    expect(await fs.readFile(p.manifest, 'utf8')).toBe(before);
  });

  it('refuses an edit that would make the manifest invalid (an id nesting another), writing nothing', async () => {
    const p = await project();
    const folder = await artifactFolder(p.origin, 'student', { 'x.bin': 'x' });
    const before = await fs.readFile(p.manifest, 'utf8');
    const r = await runCliCaptured(['manifest', 'add', folder, '--id', 'student', '--manifest', p.manifest]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/student/);
    expect(await fs.readFile(p.manifest, 'utf8')).toBe(before);
  });

  it('--dry-run hashes and reports but writes nothing; a missing --id or folder is a usage error', async () => {
    const p = await project();
    const folder = await artifactFolder(p.origin, 'student/v3_ja', { 'm.bin': 'm' });
    const before = await fs.readFile(p.manifest, 'utf8');
    const r = await add(p.manifest, [folder, '--id', 'student/v3_ja', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.report).toMatchObject({ dryRun: true, created: true });
    expect(await fs.readFile(p.manifest, 'utf8')).toBe(before);
    expect((await runCliCaptured(['manifest', 'add', folder, '--manifest', p.manifest])).code).toBe(2);
    expect((await runCliCaptured(['manifest', 'add', '--id', 'x/y', '--manifest', p.manifest])).code).toBe(2);
    expect((await runCliCaptured(['manifest', 'add', path.join(p.dir, 'nope'), '--id', 'x/y', '--manifest', p.manifest])).code).toBe(2);
    expect((await runCliCaptured(['manifest', 'frobnicate'])).code).toBe(2);
  });
});

describe('upsertArtifact', () => {
  it('falls back to re-serialising the Document for a flow-style artifacts list, keeping comments', () => {
    const text = `# top comment\nversion: 1\nhostDir: h\nsources: [{name: s, url: o}]\nartifacts: [{id: a/b, files: [{path: f, size: 1, sha256: "${'1'.repeat(64)}"}]}] # flow!\n`;
    const r = upsertArtifact(text, '/tmp/m.yaml', { id: 'c/d', files: [{ path: 'g', size: 2, sha256: '2'.repeat(64) }] });
    expect(r.method).toBe('reserialise');
    expect(r.created).toBe(true);
    expect(r.text).toContain('# top comment');
    expect(r.manifest.artifacts.map((a) => a.id)).toEqual(['a/b', 'c/d']);
  });
});

describe('manifest check', () => {
  it('validates without touching anything (exit 0, JSON summary)', async () => {
    const p = await project();
    const st = await fs.stat(p.manifest);
    const r = await runCliCaptured(['manifest', 'check', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as ManifestCheckReport;
    expect(doc.manifests).toEqual([{ path: p.manifest, artifacts: 1, files: 1, bytes: 3, digest: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect((await fs.stat(p.manifest)).mtimeMs).toBe(st.mtimeMs);
    await expect(fs.stat(path.join(p.dir, 'host'))).rejects.toThrow();
    await expect(fs.stat(path.join(p.dir, 'cache'))).rejects.toThrow();
    const human = await runCliCaptured(['manifest', 'check', p.manifest]);
    expect(human.stdout).toMatch(/^OK: .*models\.yaml: 1 artifact, 1 file, 3 B; digest [0-9a-f]{16}…$/m);
  });

  it('exits 2 listing every problem of every file given, with file:line', async () => {
    const p = await project();
    const bad = COMMENTED.replace('size: 3', 'size: -3').replace(`sha256: ${sha256(Buffer.from('abc'))}`, 'sha256: NOTAHASH').replace('env: STUDENT_JA_DIR', 'env: 1BAD');
    const badPath = path.join(p.dir, 'bad.yaml');
    await fs.writeFile(badPath, bad);
    const r = await runCliCaptured(['manifest', 'check', p.manifest, badPath, '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; data: { problems: { file: string; line: number; where: string }[] } } };
    expect(doc.ok).toBe(false);
    expect(doc.error.code).toBe('EMANIFEST');
    const wheres = doc.error.data.problems.map((x) => `${x.line} ${x.where}`).sort();
    expect(wheres).toEqual(['12 artifacts[0].env', '15 artifacts[0].files[0].size', '16 artifacts[0].files[0].sha256']);
    expect(r.stderr).toContain(`${badPath}:15:`);
    expect(await fs.readFile(badPath, 'utf8')).toBe(bad);
  });
});
