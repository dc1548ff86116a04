/**
 * A host folder on a filesystem without hardlinks (CIFS without unix extensions, many FUSE
 * filesystems: link() says EPERM, ENOTSUP, EXDEV…): installing falls back to a verified copy, and
 * so does making the release; the previous file while a new version is switched in, and a previous
 * version a failed switch could not put back, are moved (renamed), never copied.
 * They used to fail with "Permission denied while making the release", exit 5.
 */
import { randomBytes } from 'node:crypto';
import type { PathLike } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hostFilePath, hostStatePath, metaDir, releaseDir } from '../lib/layout.ts';
import type { PlannedFile } from '../lib/plan.ts';
import { artifactDigest } from '../lib/releases/record.ts';
import { createFileSource } from '../lib/sources/file.ts';
import { keepBackup } from '../lib/store/keep-backup.ts';
import { moveAside } from '../lib/store/materialise.ts';
import { Store } from '../lib/store/store.ts';
import { Installer } from '../lib/update/installer.ts';
import { StateCache } from '../lib/verify/state-cache.ts';
import { manifestYaml, runCliCaptured, sha256, tempDir, tempProject, writeSourceTree, type TestArtifact } from './helpers/cli.ts';

afterEach(() => void vi.restoreAllMocks());

const COMPOSE = ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /models'].join('\n');

const version = (data: Buffer): TestArtifact => ({ id: 'student/v0_ja', files: [{ path: 'sub/model.bin', data }, { path: 'config.json', data: Buffer.from('{}\n') }] });

/** link() into `hostDir` refused with `code`, as a filesystem without hardlinks does; elsewhere as usual. */
function noHardlinksIn(hostDir: string, code: string): void {
  const link = fs.link;
  vi.spyOn(fs, 'link').mockImplementation((async (from: PathLike, to: PathLike) => {
    if (String(to).startsWith(hostDir + path.sep)) throw Object.assign(new Error(`${code}: operation not permitted, link '${String(from)}' -> '${String(to)}'`), { code });
    return link(from, to);
  }) as typeof fs.link);
}

for (const code of ['EPERM', 'ENOTSUP']) {
  it(`link() refused with ${code} in the host folder: update installs, makes the release and switches a new version by copies, each file 0444 and right`, async () => {
    const p = await tempProject('');
    await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
    noHardlinksIn(p.hostDir, code);
    for (const art of [version(randomBytes(4096)), version(randomBytes(5000))]) {
      const src = path.join(p.dir, `src-${art.files[0]!.data.length}`);
      await writeSourceTree(src, [art]);
      await fs.writeFile(p.manifest, manifestYaml({ artifacts: [art], sources: [{ name: 'src', url: src }], extra: COMPOSE }));
      const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke']);
      expect(r.code, r.stderr).toBe(0);
      const release = releaseDir(p.hostDir, art.id, artifactDigest(art.files.map((f) => ({ path: f.path, size: f.data.length, sha256: sha256(f.data) }))));
      for (const f of art.files) {
        for (const at of [path.join(p.hostDir, art.id, f.path), path.join(release, f.path)]) {
          expect(await fs.readFile(at)).toEqual(f.data);
          expect(((await fs.stat(at)).mode & 0o777).toString(8)).toBe('444');
        }
      }
    }
  });
}

it('a previous version a failed switch could not put back is kept where link() is refused (EPERM): its backup is moved there (no byte copied), never over another kept file', async () => {
  const hostDir = await tempDir();
  const backup = path.join(hostDir, 'backup');
  await fs.writeFile(backup, 'previous');
  noHardlinksIn(hostDir, 'EPERM');
  const now = new Date('2026-11-30T20:10:00Z');
  const { ino } = await fs.stat(backup);
  const first = await keepBackup(hostDir, 'student/v0_ja', 'model.bin', backup, now);
  expect((await fs.stat(first)).ino).toBe(ino);
  await fs.writeFile(backup, 'another');
  const second = await keepBackup(hostDir, 'student/v0_ja', 'model.bin', backup, now);
  expect(second).not.toBe(first);
  expect(await fs.readFile(first, 'utf8')).toBe('previous');
  expect(await fs.readFile(second, 'utf8')).toBe('another');
});

describe('switching a new version in where link() is refused (EPERM): the previous file is moved aside, never copied', () => {
  const A = 'student/v0_ja';

  /** An installer over a file source at `root`; `v1` installed (with hardlinks: the store is elsewhere), then link() into the host folder refused. */
  async function installedV1(files: { path: string; data: Buffer }[], linkRefused: (from: string, to: string) => Promise<void> = async () => {}) {
    const root = await tempDir();
    const hostDir = await tempDir();
    const store = await Store.open(await tempDir());
    const hostCache = await StateCache.load(hostStatePath(hostDir), 'host');
    const installer = new Installer({ store, hostDir, sources: [createFileSource({ name: 'local', kind: 'file', base: root })], jobs: 2, hostCache });
    const stage = async (version: { path: string; data: Buffer }[]) => {
      for (const f of version) {
        await fs.mkdir(path.dirname(path.join(root, A, f.path)), { recursive: true });
        await fs.writeFile(path.join(root, A, f.path), f.data);
        const pf: PlannedFile = { artifactId: A, path: f.path, size: f.data.length, sha256: sha256(f.data), action: 'fetch', via: 'file', host: 'modified', reason: 'test' };
        expect((await installer.installFile(pf)).status).toBe('ok');
      }
    };
    await stage(files);
    expect(await installer.finishArtifact(A, true)).toBeUndefined();
    const link = fs.link;
    vi.spyOn(fs, 'link').mockImplementation((async (from: PathLike, to: PathLike) => {
      if (!String(to).startsWith(hostDir + path.sep)) return link(from, to);
      await linkRefused(String(from), String(to));
      throw Object.assign(new Error(`EPERM: operation not permitted, link '${String(from)}' -> '${String(to)}'`), { code: 'EPERM' });
    }) as typeof fs.link);
    const tmpDir = path.join(metaDir(hostDir), 'tmp');
    return { hostDir, installer, stage, tmpDir, dest: (f: { path: string }) => hostFilePath(hostDir, A, f.path) };
  }

  it('a switch that fails half-way puts back the previous file itself (the same inode, byte-identical), leaving nothing in .modelmount/tmp', async () => {
    const v1 = [{ path: 'model.bin', data: randomBytes(300_000) }, { path: 'vocab.txt', data: randomBytes(3000) }];
    const v2 = [{ path: 'model.bin', data: randomBytes(300_001) }, { path: 'vocab.txt', data: randomBytes(3001) }];
    const { installer, stage, tmpDir, dest } = await installedV1(v1);
    const before = await fs.stat(dest(v1[0]!));
    await stage(v2);
    // the vocabulary's staged name vanishes: its switch fails after the model was switched in
    await fs.rm(path.join(tmpDir, (await fs.readdir(tmpDir)).find((n) => n.startsWith('vocab.txt.'))!));
    const failure = await installer.finishArtifact(A, true);
    expect(failure?.path).toBe('vocab.txt');
    expect(failure?.notPutBack).toBeUndefined();
    for (const f of v1) expect(await fs.readFile(dest(f)), f.path).toEqual(f.data);
    const after = await fs.stat(dest(v1[0]!));
    expect([after.ino, after.mode & 0o777]).toEqual([before.ino, before.mode & 0o777]);
    expect(await fs.readdir(tmpDir)).toEqual([]);
  });

  it('a switch that succeeds copies no previous file: the one removed after the switch is the previous file itself', async () => {
    const v1 = [{ path: 'model.bin', data: randomBytes(300_000) }];
    const v2 = [{ path: 'model.bin', data: randomBytes(300_001) }];
    const { installer, stage, tmpDir, dest } = await installedV1(v1);
    const { ino } = await fs.stat(dest(v1[0]!));
    await stage(v2);
    const unlink = fs.unlink;
    const removed: number[] = [];
    vi.spyOn(fs, 'unlink').mockImplementation((async (p: PathLike) => {
      if (String(p).startsWith(tmpDir + path.sep)) removed.push((await fs.lstat(p))?.ino ?? -1);
      return unlink(p);
    }) as typeof fs.unlink);
    const copyFile = vi.spyOn(fs, 'copyFile');
    expect(await installer.finishArtifact(A, true)).toBeUndefined();
    expect(await fs.readFile(dest(v2[0]!))).toEqual(v2[0]!.data);
    expect(removed).toContain(ino);
    expect(copyFile.mock.calls.filter(([from]) => String(from) === dest(v1[0]!))).toEqual([]);
    expect(await fs.readdir(tmpDir)).toEqual([]);
  });

  for (const fails of [false, true]) {
    it(`a symlink planted at the previous file's backup name is never written through (switch ${fails ? 'fails and is undone' : 'succeeds'})`, async () => {
      const victim = path.join(await tempDir(), 'victim');
      await fs.writeFile(victim, 'not yours');
      const v1 = [{ path: 'model.bin', data: randomBytes(10_000) }, { path: 'vocab.txt', data: randomBytes(300) }];
      const v2 = [{ path: 'model.bin', data: randomBytes(10_001) }, { path: 'vocab.txt', data: randomBytes(301) }];
      const { installer, stage, tmpDir, dest } = await installedV1(v1, async (from, to) => {
        // something plants a link at the backup's name just when modelmount picked it
        if (from === dest(v1[0]!)) await fs.symlink(victim, to);
      });
      await stage(v2);
      if (fails) await fs.rm(path.join(tmpDir, (await fs.readdir(tmpDir)).find((n) => n.startsWith('vocab.txt.'))!));
      const failure = await installer.finishArtifact(A, true);
      expect(failure?.path).toBe(fails ? 'vocab.txt' : undefined);
      for (const [i, f] of (fails ? v1 : v2).entries()) expect(await fs.readFile(dest(f)), `file ${i}`).toEqual(f.data);
      expect(await fs.readFile(victim, 'utf8')).toBe('not yours');
      expect((await fs.lstat(victim)).isFile()).toBe(true);
    });
  }
});

describe('moveAside (no hardlinks: the previous file moves to its backup name)', () => {
  it('moves only a file: a folder made at the destination since it was looked at is refused and stays where it is', async () => {
    const dir = await tempDir();
    const dest = path.join(dir, 'weights.bin');
    await fs.mkdir(dest);
    await fs.writeFile(path.join(dest, 'theirs.txt'), 'not ours');
    const backup = { path: path.join(dir, 'tmp-backup'), dest, held: false };
    await expect(moveAside(backup)).rejects.toMatchObject({ code: 'ENOTFILE' });
    expect(await fs.readFile(path.join(dest, 'theirs.txt'), 'utf8')).toBe('not ours');
    await expect(fs.lstat(backup.path)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(backup.held).toBe(false);
  });

  it('moves the file itself (the same inode) and says so; nothing there is nothing to move', async () => {
    const dir = await tempDir();
    const dest = path.join(dir, 'weights.bin');
    await fs.writeFile(dest, 'old');
    const ino = (await fs.lstat(dest)).ino;
    const backup = { path: path.join(dir, 'tmp-backup'), dest, held: false };
    expect(await moveAside(backup)).toBe(true);
    expect((await fs.lstat(backup.path)).ino).toBe(ino);
    expect(backup.held).toBe(true);
    expect(await moveAside({ path: path.join(dir, 'tmp-2'), dest: path.join(dir, 'gone.bin'), held: false })).toBe(false);
  });
});
