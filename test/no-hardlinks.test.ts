/**
 * A host folder on a filesystem without hardlinks (CIFS without unix extensions, many FUSE
 * filesystems: link() says EPERM, ENOTSUP, EXDEV…): installing falls back to a verified copy, and
 * so do making the release, keeping the previous file while a new version is switched in, and
 * keeping a previous version a failed switch could not put back.
 * They used to fail with "Permission denied while making the release", exit 5.
 */
import { randomBytes } from 'node:crypto';
import type { PathLike } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { releaseDir } from '../lib/layout.ts';
import { artifactDigest } from '../lib/releases/record.ts';
import { keepBackup } from '../lib/store/keep-backup.ts';
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
