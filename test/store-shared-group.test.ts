/**
 * A store shared by a group (a setgid 2775 folder, umask 002): the folders one user makes there
 * follow the umask as `mkdir -p` does (group-writable here, never world-writable unless the umask
 * says so), so the next user of the group writes there too. A registration that cannot be written
 * is a disk error naming the folder and --cache-dir (exit 5), never "a bug". Its own file: the
 * umask is the process's.
 */
import { randomBytes } from 'node:crypto';
import type { PathLike } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, expect, it, vi } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { storeRegistrationsDir, storeTmpDir } from '../lib/layout.ts';
import { manifestYaml, runCliCaptured, tempProject, writeSourceTree, type TestArtifact } from './helpers/cli.ts';

const before = process.umask(0o002);
afterAll(() => void process.umask(before));
afterEach(() => void vi.restoreAllMocks());

const ART: TestArtifact = { id: 'student/v0_ja', files: [{ path: 'model.bin', data: randomBytes(4096) }] };

async function project(): Promise<Awaited<ReturnType<typeof tempProject>>> {
  const p = await tempProject('');
  const src = path.join(p.dir, 'src');
  await writeSourceTree(src, [ART]);
  await fs.writeFile(p.manifest, manifestYaml({ artifacts: [ART], sources: [{ name: 'src', url: src }] }));
  return p;
}

it('under umask 002, the folders made in the store (and the host folder) are group-writable and not world-writable', async () => {
  const p = await project();
  const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke']);
  expect(r.code, r.stderr).toBe(0);
  const folders = [p.cacheDir, path.join(p.cacheDir, 'sha256'), storeTmpDir(p.cacheDir), storeRegistrationsDir(p.cacheDir)];
  for (const f of folders) expect([f, ((await fs.stat(f)).mode & 0o777).toString(8)]).toEqual([f, '775']);
  // the host folder's too: the umask decides, read and search for everyone kept (test/host-folder-modes.test.ts)
  expect(((await fs.stat(path.join(p.hostDir, ART.id))).mode & 0o777).toString(8)).toBe('775');
});

it('a registration the store refuses (EACCES) is exit 5 naming the folder and --cache-dir, not an internal error', async () => {
  const p = await project();
  const open = fs.open;
  vi.spyOn(fs, 'open').mockImplementation((async (file: PathLike, ...rest: unknown[]) => {
    if (String(file).startsWith(storeRegistrationsDir(p.cacheDir) + path.sep)) {
      throw Object.assign(new Error(`EACCES: permission denied, open '${String(file)}'`), { code: 'EACCES' });
    }
    return (open as (...a: unknown[]) => unknown)(file, ...rest);
  }) as typeof fs.open);
  const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke', '--cache-dir', p.cacheDir]);
  expect(r.code, r.stderr).toBe(ExitCode.disk);
  expect(r.stderr).not.toContain('This is a bug');
  expect(r.stderr).toContain(storeRegistrationsDir(p.cacheDir));
  expect(r.stderr).toContain('--cache-dir');
});
