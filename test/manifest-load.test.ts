import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { DiskError, ManifestError, UsageError, type ManifestProblem } from '../lib/errors.ts';
import { loadManifest, parseManifest } from '../lib/manifest/load.ts';
import { classifySourceUrl } from '../lib/manifest/source-url.ts';
import { manifestDigest, selectionDigest } from '../lib/manifest/digest.ts';
import { parseManifestDocument } from '../lib/manifest/parse-yaml.ts';
import type { Manifest } from '../lib/manifest/schema.ts';
import { STALL_DEFAULTS } from '../lib/stall.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sha = (c: string): string => c.repeat(64);

/** A small valid manifest as plain data; tests mutate a copy. */
function baseManifest(): Record<string, any> {
  return {
    version: 1,
    hostDir: '../artifacts',
    sources: [
      { name: 'mirror', url: 'https://models.example.com/ml', tokenEnv: 'MODELS_TOKEN' },
      { name: 'nfs', url: 'file:///mnt/models/' },
    ],
    require: [{ anyOf: ['student/v0_ja', 'student/v0_en'] }],
    artifacts: [
      {
        id: 'student/v0_ja',
        labels: { role: 'student', lang: 'ja' },
        env: 'STUDENT_JA_DIR',
        files: [
          { path: 'model.safetensors', size: 100, sha256: sha('a') },
          { path: 'config.json', size: 10, sha256: sha('b') },
        ],
      },
      {
        id: 'student/v0_en',
        labels: { role: 'student', lang: 'en' },
        env: 'STUDENT_EN_DIR',
        files: [{ path: 'model.safetensors', size: 100, sha256: sha('c') }],
      },
      { id: 'teacher/v0', labels: { role: 'teacher' }, optional: true, files: [{ path: 'model.safetensors', size: 300, sha256: sha('d') }] },
    ],
    compose: { files: ['../compose.yaml'], services: ['ml-worker'], override: '../compose.models.yaml', containerDir: '/app/artifacts' },
  };
}

function problemsOf(fn: () => unknown): ManifestProblem[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ManifestError) return err.problems;
    throw err;
  }
  throw new Error('expected a ManifestError');
}

function problemsFor(data: unknown): ManifestProblem[] {
  return problemsOf(() => parseManifest(stringify(data), '/proj/manifests/m.yaml'));
}

describe('parseManifest: valid input', () => {
  it('parses and resolves the base manifest', () => {
    const m = parseManifest(stringify(baseManifest()), '/proj/manifests/m.yaml');
    expect(m.path).toBe('/proj/manifests/m.yaml');
    expect(m.dir).toBe('/proj/manifests');
    expect(m.hostDir).toBe('/proj/artifacts');
    expect(m.sources).toEqual([
      { name: 'mirror', kind: 'http', base: 'https://models.example.com/ml/', tokenEnv: 'MODELS_TOKEN' },
      { name: 'nfs', kind: 'file', base: '/mnt/models' },
    ]);
    expect(m.artifacts[0]?.optional).toBe(false);
    expect(m.artifacts[2]?.optional).toBe(true);
    expect(m.artifacts[0]?.labels).toEqual({ role: 'student', lang: 'ja' });
    expect(m.compose).toEqual({
      files: ['/proj/compose.yaml'],
      services: ['ml-worker'],
      override: '/proj/compose.models.yaml',
      containerDir: '/app/artifacts',
      context: '/proj',
    });
    expect(m.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(m.require).toEqual([{ anyOf: ['student/v0_ja', 'student/v0_en'] }]);
  });

  it('does not expand ~ and keeps an explicit compose.context', () => {
    const data = baseManifest();
    data.hostDir = '~/models';
    data.compose.context = '../app';
    const m = parseManifest(stringify(data), '/proj/manifests/m.yaml');
    expect(m.hostDir).toBe('/proj/manifests/~/models');
    expect(m.compose?.context).toBe('/proj/app');
  });

  it('accepts a UTF-8 byte order mark', () => {
    expect(() => parseManifest(`\uFEFF${stringify(baseManifest())}`, '/p/m.yaml')).not.toThrow();
  });

  it('loads manifests/models.yaml cleanly', async () => {
    const m = await loadManifest(path.join(repoRoot, 'manifests/models.yaml'));
    expect(m.artifacts.map((a) => a.id)).toEqual(['student/v0_ja', 'student/v0_en', 'teacher/v0']);
    expect(m.artifacts.find((a) => a.id === 'teacher/v0')?.optional).toBe(true);
    expect(m.artifacts.map((a) => a.env)).toEqual(['LEARNING_MACHINE_STUDENT_JA_DIR', 'LEARNING_MACHINE_STUDENT_EN_DIR', undefined]);
    expect(m.hostDir).toBe(path.join(repoRoot, 'learning_machine/artifacts'));
    expect(m.sources).toEqual([
      { name: 'mirror', kind: 'http', base: 'https://models.example.internal/ml/', tokenEnv: 'MODELS_TOKEN' },
      { name: 'nfs', kind: 'file', base: '/mnt/models' },
    ]);
    expect(m.require).toEqual([{ anyOf: ['student/v0_ja', 'student/v0_en'] }]);
    expect(m.compose).toEqual({
      files: [path.join(repoRoot, 'compose.yaml')],
      services: ['ml-worker'],
      override: path.join(repoRoot, 'compose.models.yaml'),
      containerDir: '/app/learning_machine/artifacts',
      context: repoRoot,
    });
    expect(m.smoke).toEqual({ command: ['python', '-m', 'app.check_models'], timeoutSeconds: 300 });
    const total = m.artifacts.flatMap((a) => a.files).reduce((s, f) => s + f.size, 0);
    expect(total / 1e9).toBeGreaterThan(5);
    expect(total / 1e9).toBeLessThan(6);
  });
});

describe('parseManifest: every problem at once, with exact positions', () => {
  const lines = [
    '# kitchen sink', //                                          1
    'version: 1', //                                              2
    'hostDir: ../host', //                                        3
    'colour: blue', //                                            4  unknown key
    'sources:', //                                                5
    '  - name: mirror', //                                        6
    '    url: https://m.example/ml', //                           7
    'require:', //                                                8
    '  - anyOf: [student/v0_ja, studnet/v0_en]', //               9  unknown require id
    'artifacts:', //                                              10
    '  - id: student/v0_ja', //                                   11
    '    files:', //                                              12
    '      - path: model.safetensors', //                         13
    '        size: 10', //                                        14
    '        sha256: abc123', //                                  15 bad digest
    '      - path: ../escape.bin', //                             16 unsafe path
    '        size: 1', //                                         17
    `        sha256: ${sha('a')}`, //                             18
    '  - id: student/v0_ja', //                                   19 duplicate id
    '    files:', //                                              20
    '      - path: x', //                                         21
    '        size: 1', //                                         22
    `        sha256: ${sha('b')}`, //                             23
  ];
  const text = `${lines.join('\n')}\n`;

  it('reports all five problems, sorted, at exact lines and columns', () => {
    const problems = problemsOf(() => parseManifest(text, 'models.yaml'));
    expect(problems.map((p) => [p.line, p.column, p.where])).toEqual([
      [4, 1, 'colour'],
      [9, 28, 'require[0].anyOf[1]'],
      [15, 17, 'artifacts[0].files[0].sha256'],
      [16, 15, 'artifacts[0].files[1].path'],
      [19, 9, 'artifacts[1].id'],
    ]);
    for (const p of problems) {
      expect(p.file).toBe('models.yaml');
      expect(p.message.length).toBeGreaterThan(5);
      expect(p.fix.length).toBeGreaterThan(5);
    }
    const [unknownKey, unknownId, digest, unsafe, dup] = problems as [ManifestProblem, ManifestProblem, ManifestProblem, ManifestProblem, ManifestProblem];
    expect(unknownKey.message).toContain('"colour"');
    expect(unknownKey.fix).toContain('version, hostDir, cacheDir, jobs, keepReleases, sources, require, artifacts, compose, smoke');
    expect(unknownId.message).toContain('studnet/v0_en');
    expect(unknownId.fix).toContain('student/v0_ja');
    expect(digest.message).toContain('64 lowercase hex');
    expect(digest.fix).toBe('Replace it with the 64-character output of `sha256sum model.safetensors`.');
    expect(unsafe.message).toContain('..');
    expect(dup.message).toMatch(/duplicate artifact id "student\/v0_ja" \(also at line 11\)/);
  });

  it('formats the ManifestError message with file:line:column', () => {
    try {
      parseManifest(text, 'models.yaml');
    } catch (err) {
      expect(err).toBeInstanceOf(ManifestError);
      const e = err as ManifestError;
      expect(e.code).toBe('EMANIFEST');
      expect(e.exitCode).toBe(2);
      expect(e.message).toContain('5 problems');
      expect(e.message).toContain('models.yaml:15:17 artifacts[0].files[0].sha256:');
      return;
    }
    throw new Error('expected a throw');
  });
});

describe('parseManifest: YAML syntax', () => {
  it.each([
    ['unclosed flow list', 'version: 1\nartifacts: [a, b\nhostDir: x\n', 3],
    ['duplicate key', 'version: 1\nhostDir: a\nhostDir: b\n', 3],
    ['tab indentation', 'version: 1\nsources:\n\t- name: x\n', 3],
    ['two documents', 'version: 1\n---\nversion: 1\n', 2],
    ['unclosed quote', 'version: 1\nhostDir: "abc\n', 2],
  ])('%s becomes a problem with a line', (_name, text, line) => {
    const problems = problemsOf(() => parseManifest(text, 'm.yaml'));
    expect(problems.length).toBeGreaterThanOrEqual(1);
    expect(problems[0]?.line).toBe(line);
    expect(problems[0]?.message).toMatch(/^YAML: /);
    expect(problems[0]?.fix.length).toBeGreaterThan(5);
  });

  it('an empty file says so', () => {
    const [p] = problemsOf(() => parseManifest('', 'm.yaml'));
    expect(p).toMatchObject({ line: 1, column: 1, message: 'the manifest is empty' });
  });

  it('a quoted-less all-digit sha256 (read as a number by YAML) asks for quotes', () => {
    const data = stringify(baseManifest()).replace(`sha256: ${sha('a')}`, `sha256: ${'1'.repeat(64)}`);
    const problems = problemsOf(() => parseManifest(data, 'm.yaml'));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.fix).toContain(`"${'1'.repeat(64)}"`);
  });
});

describe('parseManifest: schema problems', () => {
  it('names unknown keys and the allowed ones, with a did-you-mean', () => {
    const data = baseManifest();
    data.artifacts[0].files[0].sha265 = 'x';
    const problems = problemsFor(data);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ where: 'artifacts[0].files[0].sha265' });
    expect(problems[0]?.message).toContain('"sha265"');
    expect(problems[0]?.fix).toContain('Did you mean "sha256"?');
    expect(problems[0]?.fix).toContain('path, size, sha256');
  });

  it.each<[string, (d: Record<string, any>) => void, string, RegExp]>([
    ['version', (d) => (d.version = 2), 'version', /upgrade modelmount/],
    ['missing hostDir', (d) => delete d.hostDir, 'hostDir', /hostDir: /],
    ['jobs out of range', (d) => (d.jobs = 100), 'jobs', /jobs: 4/],
    ['no sources', (d) => (d.sources = []), 'sources', /sources: /],
    ['no artifacts', (d) => (d.artifacts = []), 'artifacts', /manifest add/],
    ['no files', (d) => (d.artifacts[0].files = []), 'artifacts[0].files', /manifest add/],
    ['negative size', (d) => (d.artifacts[0].files[0].size = -1), 'artifacts[0].files[0].size', /stat -c %s model\.safetensors/],
    ['quoted size', (d) => (d.artifacts[0].files[0].size = '100'), 'artifacts[0].files[0].size', /Remove the quotes/],
    ['uppercase sha', (d) => (d.artifacts[0].files[0].sha256 = 'A'.repeat(64)), 'artifacts[0].files[0].sha256', /lowercase/],
    ['prefixed sha', (d) => (d.artifacts[0].files[0].sha256 = `sha256:${sha('a')}`), 'artifacts[0].files[0].sha256', /prefix/],
    ['bad env', (d) => (d.artifacts[0].env = '1BAD'), 'artifacts[0].env', /LEARNING_MACHINE_STUDENT_JA_DIR/],
    ['bad label value', (d) => (d.artifacts[0].labels.lang = 'j a'), 'artifacts[0].labels.lang', /lang: ja/],
    ['bad label key', (d) => (d.artifacts[0].labels['my key'] = 'x'), 'artifacts[0].labels["my key"]', /labels/],
    ['optional not boolean', (d) => (d.artifacts[0].optional = 'yes'), 'artifacts[0].optional', /true/],
    ['bad containerDir', (d) => (d.compose.containerDir = 'app/'), 'compose.containerDir', /\/app\/learning_machine\/artifacts/],
    ['empty services', (d) => (d.compose.services = []), 'compose.services', /ml-worker/],
    ['bad timeout', (d) => (d.smoke = { timeoutSeconds: 0 }), 'smoke.timeoutSeconds', /300/],
    ['bad source name', (d) => (d.sources[0].name = 'my mirror'), 'sources[0].name', /mirror/],
    ['merge key', (d) => (d.artifacts[0]['<<'] = { a: 1 }), 'artifacts[0]["<<"]', /merge keys/],
  ])('%s', (_name, mutate, where, fix) => {
    const data = baseManifest();
    mutate(data);
    const problems = problemsFor(data);
    const p = problems.find((x) => x.where === where);
    expect(p, JSON.stringify(problems, null, 2)).toBeDefined();
    expect(p!.fix).toMatch(fix);
    expect(p!.line).toBeGreaterThan(0);
  });
});

describe('parseManifest: semantic problems', () => {
  it.each<[string, (d: Record<string, any>) => void, string, RegExp]>([
    ['unsafe id', (d) => (d.artifacts[0].id = '../student'), 'artifacts[0].id', /"\.\." segment/],
    ['absolute id', (d) => (d.artifacts[0].id = '/student'), 'artifacts[0].id', /absolute/],
    ['reserved id', (d) => (d.artifacts[2].id = '.modelmount/x'), 'artifacts[2].id', /\.modelmount/],
    ['duplicate id', (d) => (d.artifacts[1].id = 'student/v0_ja'), 'artifacts[1].id', /duplicate artifact id/],
    ['case-folded id', (d) => (d.artifacts[1].id = 'Student/V0_JA'), 'artifacts[1].id', /case-insensitive/],
    [
      'NFD/NFC id',
      (d) => {
        d.artifacts[0].id = 'caf\u00e9';
        d.artifacts[1].id = 'cafe\u0301';
        d.require = [];
      },
      'artifacts[1].id',
      /same folder/,
    ],
    ['id nesting', (d) => (d.artifacts[2].id = 'student'), 'artifacts[2].id', /parent folder of "student\/v0_ja".*nest/],
    ['unsafe file path', (d) => (d.artifacts[0].files[1].path = 'a\\b'), 'artifacts[0].files[1].path', /backslash/],
    ['duplicate file path', (d) => (d.artifacts[0].files[1].path = 'model.safetensors'), 'artifacts[0].files[1].path', /listed twice/],
    ['case collision', (d) => (d.artifacts[0].files[1].path = 'Model.safetensors'), 'artifacts[0].files[1].path', /case-insensitive/],
    ['file vs folder', (d) => (d.artifacts[0].files[1].path = 'model.safetensors/x'), 'artifacts[0].files[1].path', /both a file and a folder/],
    ['unknown require id', (d) => (d.require = [{ anyOf: ['student/v0_jp'] }]), 'require[0].anyOf[0]', /Did you mean "student\/v0_ja"/],
    ['duplicate source', (d) => (d.sources[1].name = 'mirror'), 'sources[1].name', /different name/],
    ['gs url', (d) => (d.sources[0].url = 'gs://bucket/models'), 'sources[0].url', /http\(s\).*s3:\/\//],
    ['s3 bucket name', (d) => (d.sources[0].url = 's3://Bad_Bucket!/m/'), 'sources[0].url', /bucket name/],
    ['s3 credentials in url', (d) => (d.sources[0].url = 's3://AKIA:secret@bucket/m/'), 'sources[0].url', /AWS chain/],
    ['s3 dot-dot prefix', (d) => (d.sources[0].url = 's3://bucket/a/../b/'), 'sources[0].url', /segment/],
    ['tokenEnv on s3', (d) => (d.sources[0].url = 's3://bucket/m/'), 'sources[0].tokenEnv', /AWS chain/],
    ['oci uppercase repo', (d) => (d.sources[1].url = 'oci://r.example/Team/m:v1'), 'sources[1].url', /oci:\/\/registry/],
    ['oci tag and digest', (d) => (d.sources[1].url = `oci://r.example/m:v1@sha256:${'a'.repeat(64)}`), 'sources[1].url', /digest/],
    ['oci without ref', (d) => (d.sources[1].url = 'oci://r.example/team/models'), 'sources[1].url', /ociRef/],
    ['tokenEnv on oci', (d) => (d.sources[0].url = 'oci://r.example/m:v1'), 'sources[0].tokenEnv', /docker login/],
    ['bad ociRef', (d) => (d.artifacts[0].ociRef = 'sha256:xyz'), 'artifacts[0].ociRef', /tag|digest/],
    ['endpoint on http', (d) => (d.sources[0].endpoint = 'https://minio.example:9000'), 'sources[0].endpoint', /s3:\/\//],
    [
      's3 endpoint over plain http',
      (d) => Object.assign(d.sources[0], { url: 's3://bucket/m/', tokenEnv: undefined, endpoint: 'http://minio.example:9000' }),
      'sources[0].endpoint',
      /insecure: true/,
    ],
    ['ftp url', (d) => (d.sources[0].url = 'ftp://host/models'), 'sources[0].url', /http\(s\)/],
    ['credentials in url', (d) => (d.sources[0].url = 'https://u:p@h/x/'), 'sources[0].url', /tokenEnv/],
    ['query in url', (d) => (d.sources[0].url = 'https://h/x/?sig=1'), 'sources[0].url', /base/],
    ['relative file url', (d) => (d.sources[1].url = 'file://models'), 'sources[1].url', /file:\/\/\/mnt\/models/],
    ['windows path', (d) => (d.sources[1].url = 'C:\\models'), 'sources[1].url', /POSIX/],
    ['host:path', (d) => (d.sources[1].url = 'nfs-server:/export/models'), 'sources[1].url', /mount/],
    ['tokenEnv on file source', (d) => (d.sources[1].tokenEnv = 'TOK'), 'sources[1].tokenEnv', /Remove tokenEnv/],
    ['token over plain http', (d) => (d.sources[0].url = 'http://models.example.com/'), 'sources[0].url', /https/],
    ['duplicate service', (d) => (d.compose.services = ['ml-worker', 'ml-worker']), 'compose.services[1]', /duplicate/],
    ['override is a compose file', (d) => (d.compose.override = '../compose.yaml'), 'compose.override', /separate file/],
    ['containerDir with ..', (d) => (d.compose.containerDir = '/app/../etc'), 'compose.containerDir', /containerDir/],
    ['duplicate env', (d) => (d.artifacts[1].env = 'STUDENT_JA_DIR'), 'artifacts[1].env', /STUDENT_V0_EN_DIR/],
    ['hostDir is /', (d) => (d.hostDir = '/'), 'hostDir', /dedicated folder/],
    ['cacheDir inside hostDir', (d) => (d.cacheDir = '../artifacts/.cache'), 'cacheDir', /outside hostDir/],
    ['hostDir is /etc (issue 9 item 5)', (d) => (d.hostDir = '/etc'), 'hostDir', /system folder/],
    ['hostDir under /usr', (d) => (d.hostDir = '/usr/share/models'), 'hostDir', /system folder/],
    ['hostDir is /home itself', (d) => (d.hostDir = '/home'), 'hostDir', /system folder/],
    ['hostDir under /dev', (d) => (d.hostDir = '/dev/disk/models'), 'hostDir', /system folder/],
    ['hostDir below /lib64', (d) => (d.hostDir = '/lib64/x'), 'hostDir', /system folder/],
    ['hostDir holds the manifest (issue 9 item 1)', (d) => (d.hostDir = '..'), 'hostDir', /holds this manifest/],
    ['hostDir holds a compose file', (d) => (d.hostDir = '/proj/compose-files', d.compose.files = ['/proj/compose-files/compose.yaml']), 'hostDir', /Compose file/],
  ])('%s', (_name, mutate, where, fix) => {
    const data = baseManifest();
    mutate(data);
    const problems = problemsFor(data);
    const p = problems.find((x) => x.where === where);
    expect(p, JSON.stringify(problems, null, 2)).toBeDefined();
    expect(`${p!.message} ${p!.fix}`).toMatch(fix);
  });

  it.each(['/var/lib/models', '/home/me/models', '/srv/models', '/opt/app/artifacts', '/libraries/models', '/dev/shm/models'])('allows hostDir %s (below /var, /home and /dev/shm, not a system folder)', (dir) => {
    const data = baseManifest();
    data.hostDir = dir;
    expect(parseManifest(stringify(data), '/proj/manifests/m.yaml').hostDir).toBe(dir);
  });

  it('resolves an s3 source with region, endpoint, profile (plain http endpoint on loopback, or with insecure: true)', () => {
    const data = baseManifest();
    data.sources[0] = { name: 'bucket', url: 's3://models/ml', region: 'eu-west-1', endpoint: 'http://127.0.0.1:7480', profile: 'models-ro' };
    data.sources[1] = { name: 'ceph', url: 's3://models', endpoint: 'http://ceph.lan:7480', insecure: true };
    const m = parseManifest(stringify(data), '/p/m.yaml');
    expect(m.sources[0]).toEqual({ name: 'bucket', kind: 's3', base: 's3://models/ml/', region: 'eu-west-1', endpoint: 'http://127.0.0.1:7480', profile: 'models-ro' });
    expect(m.sources[1]).toEqual({ name: 'ceph', kind: 's3', base: 's3://models/', endpoint: 'http://ceph.lan:7480', insecure: true });
  });

  it('allows a token over http to a loopback test server', () => {
    const data = baseManifest();
    data.sources[0].url = 'http://127.0.0.1:8080/ml';
    expect(parseManifest(stringify(data), '/p/m.yaml').sources[0]?.base).toBe('http://127.0.0.1:8080/ml/');
  });

  it('runs semantic checks even when the schema fails elsewhere', () => {
    const data = baseManifest();
    data.version = 'one';
    data.artifacts[1].id = 'student/v0_ja';
    const wheres = problemsFor(data).map((p) => p.where);
    expect(wheres).toContain('version');
    expect(wheres).toContain('artifacts[1].id');
  });
});

describe('classifySourceUrl', () => {
  it.each([
    ['https://h/ml', { kind: 'http', base: 'https://h/ml/' }],
    ['https://h/ml/', { kind: 'http', base: 'https://h/ml/' }],
    ['HTTP://H:8080', { kind: 'http', base: 'http://h:8080/' }],
    ['file:///mnt/models/', { kind: 'file', base: '/mnt/models' }],
    ['file://localhost/mnt/m', { kind: 'file', base: '/mnt/m' }],
    ['../models', { kind: 'file', base: '/proj/models' }],
    ['models', { kind: 'file', base: '/proj/manifests/models' }],
    ['/srv/models', { kind: 'file', base: '/srv/models' }],
    ['~/models', { kind: 'file', base: '/proj/manifests/~/models' }],
    ['s3://models', { kind: 's3', base: 's3://models/' }],
    ['s3://models/ml/v1', { kind: 's3', base: 's3://models/ml/v1/' }],
    ['s3://my.bucket-1/ml/', { kind: 's3', base: 's3://my.bucket-1/ml/' }],
    ['oci://Registry.example:5000/team/models:v1', { kind: 'oci', base: 'oci://registry.example:5000/team/models:v1' }],
    [`oci://r.example/m@sha256:${'a'.repeat(64)}`, { kind: 'oci', base: `oci://r.example/m@sha256:${'a'.repeat(64)}` }],
  ])('%s', (url, expected) => {
    expect(classifySourceUrl(url, '/proj/manifests')).toEqual(expected);
  });
});

describe('loadManifest', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-load-'));
  });
  afterAll(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('resolves relative paths against the manifest folder, not the cwd', async () => {
    const projDir = path.join(tmp, 'proj', 'manifests');
    const elsewhere = path.join(tmp, 'elsewhere');
    await fs.mkdir(projDir, { recursive: true });
    await fs.mkdir(elsewhere, { recursive: true });
    const data = baseManifest();
    data.cacheDir = 'cache';
    data.sources[1].url = './local-models';
    data.compose.files = ['../deploy/compose.yaml', '../deploy/compose.prod.yaml'];
    const file = path.join(projDir, 'models.yaml');
    await fs.writeFile(file, stringify(data));

    const before = process.cwd();
    process.chdir(elsewhere);
    let m: Manifest;
    try {
      m = await loadManifest(file);
    } finally {
      process.chdir(before);
    }
    const proj = path.join(tmp, 'proj');
    expect(m.path).toBe(file);
    expect(m.dir).toBe(projDir);
    expect(m.hostDir).toBe(path.join(proj, 'artifacts'));
    expect(m.cacheDir).toBe(path.join(projDir, 'cache'));
    expect(m.sources[1]).toEqual({ name: 'nfs', kind: 'file', base: path.join(projDir, 'local-models') });
    expect(m.compose?.files).toEqual([path.join(proj, 'deploy/compose.yaml'), path.join(proj, 'deploy/compose.prod.yaml')]);
    expect(m.compose?.override).toBe(path.join(proj, 'compose.models.yaml'));
    expect(m.compose?.context).toBe(path.join(proj, 'deploy'));

    // a relative manifest path is relative to the given cwd; its contents still resolve against its folder
    const m2 = await loadManifest('proj/manifests/models.yaml', { cwd: tmp });
    expect(m2.hostDir).toBe(path.join(proj, 'artifacts'));
    expect(m2.digest).toBe(m.digest);
  });

  it('falls back to MODELS_MANIFEST when no file is given', async () => {
    const file = path.join(tmp, 'env.yaml');
    await fs.writeFile(file, stringify(baseManifest()));
    const m = await loadManifest('', { env: { MODELS_MANIFEST: file } });
    expect(m.path).toBe(file);
  });

  it('a missing file is a UsageError naming the path, --manifest and MODELS_MANIFEST', async () => {
    const missing = path.join(tmp, 'nope', 'models.yaml');
    const err = await loadManifest(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    const e = err as UsageError;
    expect(e.code).toBe('ENOMANIFEST');
    expect(e.message).toContain(missing);
    expect(e.hint).toContain('--manifest');
    expect(e.hint).toContain('MODELS_MANIFEST');

    const fromEnv = (await loadManifest('', { env: { MODELS_MANIFEST: missing } }).catch((x: unknown) => x)) as UsageError;
    expect(fromEnv.message).toContain('MODELS_MANIFEST');

    const none = (await loadManifest('', { env: {} }).catch((x: unknown) => x)) as UsageError;
    expect(none).toBeInstanceOf(UsageError);
    expect(none.hint).toContain('--manifest');
  });

  it('a folder is a UsageError pointing at the file inside', async () => {
    const err = (await loadManifest(tmp).catch((e: unknown) => e)) as UsageError;
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('folder');
  });

  it('reports problems with the absolute file path', async () => {
    const file = path.join(tmp, 'bad.yaml');
    await fs.writeFile(file, 'version: 2\n');
    const err = (await loadManifest(file).catch((e: unknown) => e)) as ManifestError;
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.problems.every((p) => p.file === file)).toBe(true);
  });
});

describe('loadManifest: the manifest on a hung mount', () => {
  afterEach(endHungLooks);

  async function hungManifest() {
    const file = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-load-')), 'models.yaml');
    await fs.writeFile(file, stringify(baseManifest()));
    return { file, hung: hangFs('open', file) };
  }

  it('a read that never answers is ESTALLED (exit 5) naming the manifest, after the stall bound', async () => {
    const { file, hung } = await hungManifest();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const loading = loadManifest(file).catch((e: unknown) => e);
    await untilAsked(hung, loading);
    await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
    const err = (await loading) as DiskError;
    expect(err).toBeInstanceOf(DiskError);
    expect(err.code).toBe('ESTALLED');
    expect(err.exitCode).toBe(5);
    expect(err.message).toContain(`Reading ${file} stalled`);
  }, 20_000);

  it('Ctrl+C during that read ends the load at once with its reason', async () => {
    const { file, hung } = await hungManifest();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }); // the stall bound never ends it: only the abort can
    const ac = new AbortController();
    const loading = loadManifest(file, { signal: ac.signal }).catch((e: unknown) => e);
    await untilAsked(hung, loading);
    const reason = new DOMException('Interrupted', 'AbortError');
    ac.abort(reason);
    expect(await loading).toBe(reason);
  }, 20_000);
});

describe('digests', () => {
  const text = stringify(baseManifest());
  const digestOf = (t: string): string => parseManifest(t, '/p/m.yaml').digest;
  const base = digestOf(text);

  it('ignores comments, key order, descriptions, source URLs, hostDir, cacheDir and the manifest location', () => {
    const d = baseManifest();
    const reordered = {
      artifacts: [...d.artifacts].reverse().map((a: Record<string, unknown>) => ({ ...a, description: 'changed' })),
      version: 1,
      compose: d.compose,
      require: d.require,
      sources: [{ name: 'mirror', url: 'https://elsewhere.example.org/x/' }, d.sources[1]],
      hostDir: '/srv/other',
      cacheDir: '/var/cache/mm',
    };
    expect(digestOf(`# a comment\n${stringify(reordered)}# trailing\n`)).toBe(base);
    expect(parseManifest(text, '/elsewhere/x.yaml').digest).toBe(base);
    // file order inside an artifact is not meaningful either
    const d2 = baseManifest();
    d2.artifacts[0].files.reverse();
    expect(digestOf(stringify(d2))).toBe(base);
  });

  it.each<[string, (d: Record<string, any>) => void]>([
    ['a size', (d) => (d.artifacts[0].files[0].size = 101)],
    ['a sha256', (d) => (d.artifacts[0].files[0].sha256 = sha('e'))],
    ['a path', (d) => (d.artifacts[0].files[0].path = 'weights.safetensors')],
    ['an id', (d) => (d.artifacts[2].id = 'teacher/v1')],
    ['a label', (d) => (d.artifacts[0].labels.lang = 'jp')],
    ['optional', (d) => (d.artifacts[2].optional = false)],
    ['env', (d) => (d.artifacts[0].env = 'OTHER_DIR')],
    ['require', (d) => (d.require = [])],
    ['compose services', (d) => (d.compose.services = ['ml-worker', 'api'])],
    ['compose containerDir', (d) => (d.compose.containerDir = '/models')],
  ])('changes when %s changes', (_name, mutate) => {
    const d = baseManifest();
    mutate(d);
    expect(digestOf(stringify(d))).not.toBe(base);
  });

  it('manifestDigest is what parseManifest reports', () => {
    const m = parseManifest(text, '/p/m.yaml');
    expect(manifestDigest(m)).toBe(m.digest);
  });

  it('selectionDigest covers only the given artifacts and their bytes', () => {
    const m = parseManifest(text, '/p/m.yaml');
    const [ja, en, teacher] = m.artifacts as [Manifest['artifacts'][0], Manifest['artifacts'][0], Manifest['artifacts'][0]];
    const both = selectionDigest([ja, en]);
    expect(both).toMatch(/^[0-9a-f]{64}$/);
    expect(selectionDigest([en, ja])).toBe(both);
    expect(selectionDigest([ja, en, teacher])).not.toBe(both);
    expect(selectionDigest([{ ...ja, labels: { x: 'y' }, env: 'Z', description: 'd' }, en])).toBe(both);
    expect(selectionDigest([{ ...ja, files: [{ ...ja.files[0]!, size: 1 }, ...ja.files.slice(1)] }, en])).not.toBe(both);
    // unrelated artifacts in the manifest do not matter
    const d = baseManifest();
    d.artifacts[2].files[0].size = 999;
    const m2 = parseManifest(stringify(d), '/p/m.yaml');
    expect(selectionDigest(m2.artifacts.slice(0, 2))).toBe(both);
  });
});

describe('parseManifest never throws anything but ManifestError (property)', () => {
  const manifestKeys = ['version', 'hostDir', 'cacheDir', 'jobs', 'sources', 'require', 'artifacts', 'compose', 'smoke', 'id', 'files', 'path', 'size', 'sha256', 'name', 'url', 'tokenEnv', 'anyOf', 'labels', 'env', 'optional', 'services', 'override', 'containerDir', 'context', 'command', 'timeoutSeconds', '__proto__', 'constructor', '<<'];
  const scalar = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom('student/v0_ja', 'student', '../x', '/abs', 'a\\b', sha('a'), 'https://h/x', 'http://h', 'file:///m', 'file://m', 's3://b', '', '~', 'Model.bin', 'model.bin', 'a/b', 'a'),
  );
  const key = fc.oneof(fc.constantFrom(...manifestKeys), fc.string({ maxLength: 6 }));
  const { node } = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      scalar,
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(key, tie('node'), { maxKeys: 6 }),
    ),
  }));
  const nearValid = fc.record(
    {
      version: fc.oneof(fc.constant(1), node),
      hostDir: fc.oneof(fc.constant('../a'), node),
      sources: fc.oneof(fc.constant([{ name: 'm', url: 'https://h/' }]), fc.array(fc.dictionary(key, node, { maxKeys: 4 }), { maxLength: 3 }), node),
      require: fc.oneof(fc.constant([{ anyOf: ['x'] }]), node),
      artifacts: fc.oneof(
        fc.array(
          fc.record(
            {
              id: fc.oneof(fc.constantFrom('x', 'x/y', 'X', 'x/../y'), node),
              files: fc.oneof(
                fc.array(fc.record({ path: scalar, size: scalar, sha256: fc.oneof(fc.constant(sha('a')), scalar) }, { requiredKeys: [] }), { maxLength: 3 }),
                node,
              ),
              labels: node,
              env: scalar,
              optional: scalar,
            },
            { requiredKeys: [] },
          ),
          { maxLength: 4 },
        ),
        node,
      ),
      compose: fc.oneof(fc.dictionary(key, node, { maxKeys: 5 }), node),
      smoke: node,
    },
    { requiredKeys: [] },
  );

  /** the result of a parse, or its problems: the fast path and the Document path must agree on both */
  function outcome(parse: (text: string, file: string) => Manifest, text: string): unknown {
    try {
      return { manifest: parse(text, '/p/m.yaml') };
    } catch (err) {
      if (err instanceof ManifestError) return { problems: err.problems };
      throw err;
    }
  }

  function check(text: string): void {
    expect(outcome(parseManifest, text)).toEqual(outcome(parseManifestDocument, text));
    try {
      const m = parseManifest(text, '/p/m.yaml');
      expect(m.digest).toMatch(/^[0-9a-f]{64}$/);
    } catch (err) {
      if (!(err instanceof ManifestError)) throw err;
      expect(err.problems.length).toBeGreaterThan(0);
      for (const p of err.problems) {
        expect(p.line).toBeGreaterThanOrEqual(1);
        expect(p.column).toBeGreaterThanOrEqual(1);
        expect(typeof p.message).toBe('string');
        expect(typeof p.fix).toBe('string');
      }
    }
  }

  it('random YAML-ish objects', () => {
    fc.assert(
      fc.property(fc.oneof(node, nearValid), (obj) => check(stringify(obj))),
      { numRuns: 1500 },
    );
  });

  it('random YAML-ish text', () => {
    const token = fc.oneof(
      fc.constantFrom('version: 1\n', 'hostDir: x\n', 'artifacts:\n', '  - id: a\n', '    files:\n', '      - path: p\n', 'sources: [{name: a, url: b}]\n'),
      fc.constantFrom('  ', '- ', ':', ': ', '\n', '[', ']', '{', '}', ',', '&a ', '*a', '!!str ', '!x ', '"', "'", '# c\n', '\t', '---\n', '...\n', '? ', '|\n', '>\n', '%YAML 1.2\n', '<<: *a\n', '\uFEFF', '\0'),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), (tokens) => check(tokens.join(''))),
      { numRuns: 1500 },
    );
  });
});
