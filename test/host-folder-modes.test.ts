/**
 * The folders modelmount makes on the host side are readable and searchable by every user
 * whatever the umask, as its files are 0444: a container running as another user (`user:
 * "1000:1000"`) reads the bind-mounted artifact and release folders. Under umask 077 they used to
 * come out drwx------. Its own file: the umask is the process's.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { makeDirs } from '../lib/fs-safe.ts';
import { artifactDigest } from '../lib/releases/record.ts';
import { metaDir, releaseDir } from '../lib/layout.ts';
import { manifestYaml, runCliCaptured, sha256, tempDir, tempProject, writeSourceTree, type TestArtifact } from './helpers/cli.ts';

const before = process.umask(0o077);
afterAll(() => void process.umask(before));

const ART: TestArtifact = { id: 'student/v0_ja', files: [{ path: 'sub/model.bin', data: randomBytes(4096) }, { path: 'config.json', data: Buffer.from('{}\n') }] };
const COMPOSE = ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /models'].join('\n');

const modeOf = async (p: string) => (await fs.stat(p)).mode & 0o7777;

it('under umask 077, the artifact folders, the release folders and the folders above them in the host folder are 0755; files 0444', async () => {
  const p = await tempProject('');
  const src = path.join(p.dir, 'src');
  await writeSourceTree(src, [ART]);
  await fs.writeFile(p.manifest, manifestYaml({ artifacts: [ART], sources: [{ name: 'src', url: src }], extra: COMPOSE }));
  await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');

  const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke']);
  expect(r.code, r.stderr).toBe(0);

  const digest = artifactDigest(ART.files.map((f) => ({ path: f.path, size: f.data.length, sha256: sha256(f.data) })));
  const release = releaseDir(p.hostDir, ART.id, digest);
  const folders = [
    p.hostDir,
    path.join(p.hostDir, 'student'),
    path.join(p.hostDir, 'student/v0_ja'),
    path.join(p.hostDir, 'student/v0_ja/sub'),
    metaDir(p.hostDir),
    path.join(metaDir(p.hostDir), 'releases'),
    path.dirname(release),
    release,
    path.join(release, 'sub'),
  ];
  for (const f of folders) expect([f, (await modeOf(f)).toString(8)]).toEqual([f, '755']);
  for (const f of ['student/v0_ja/sub/model.bin', 'student/v0_ja/config.json']) expect((await modeOf(path.join(p.hostDir, f))).toString(8)).toBe('444');
  expect((await modeOf(path.join(release, 'sub/model.bin'))).toString(8)).toBe('444');
});

it('a link put where a host folder was just made is refused, and the folder it leads to keeps its mode', async () => {
  const base = await tempDir('modelmount-host-link-');
  const theirs = path.join(base, 'theirs');
  await fs.mkdir(theirs, { mode: 0o700 });
  await fs.chmod(theirs, 0o700);
  const made = path.join(base, 'host');
  const mkdir = fs.mkdir;
  // the race: between modelmount's mkdir and its mode change, the new folder becomes a link
  const spy = vi.spyOn(fs, 'mkdir').mockImplementation((async (p: string, opts?: unknown) => {
    if (String(p) === made) return void (await fs.symlink(theirs, made));
    return mkdir(p, opts as never);
  }) as never);
  try {
    await expect(makeDirs(made, 'host')).rejects.toThrow();
    expect((await fs.stat(theirs)).mode & 0o777).toBe(0o700);
  } finally {
    spy.mockRestore();
    await fs.rm(base, { recursive: true, force: true });
  }
});
