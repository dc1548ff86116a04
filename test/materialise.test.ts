/**
 * materialiseFile: a store blob into the host folder by hardlink on the same filesystem, by a
 * copy hashed while it is written on another one, never exposing a wrong or partial file.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DiskError, ExitCode, IntegrityError } from '../lib/errors.ts';
import { blobPath, hostFilePath, metaDir, storeStatePath } from '../lib/layout.ts';
import type { FileEntry } from '../lib/manifest/schema.ts';
import { dropStagedLeftovers, materialiseFile, placeStaged, stageFile } from '../lib/store/materialise.ts';
import { ensureRealDir } from '../lib/fs-safe.ts';
import { statIdentity } from '../lib/verify/state-cache.ts';
import { manifestYaml, runCliCaptured, serverFiles, tempDir, tempProject } from './helpers/cli.ts';
import { startFaultServer } from './helpers/with-server.ts';

const ID = 'student/v0_ja';
const data = randomBytes(3 * 1024 * 1024 + 17);
const entry: FileEntry = { path: 'model.safetensors', size: data.length, sha256: createHash('sha256').update(data).digest('hex') };

/** /dev/shm when it is another filesystem than the temp folder (a tmpfs on Linux): copies happen across it */
const otherFs = (() => {
  try {
    return statSync('/dev/shm').dev !== statSync(os.tmpdir()).dev ? '/dev/shm' : undefined;
  } catch {
    return undefined;
  }
})();
if (!otherFs) process.stderr.write('test/materialise.test.ts: cross-filesystem copy tests skipped: /dev/shm is missing or on the same filesystem as the temp folder.\n');

const made: string[] = [];
afterAll(async () => {
  await Promise.all(made.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function blobWith(bytes: Buffer): Promise<string> {
  const blob = path.join(await tempDir(), 'blob');
  await fs.writeFile(blob, bytes, { mode: 0o444 });
  return blob;
}

async function hostOn(root: string | undefined): Promise<{ hostDir: string; dest: string }> {
  const hostDir = root ? await fs.mkdtemp(path.join(root, 'modelmount-host-')) : await tempDir();
  made.push(hostDir);
  await ensureRealDir(hostDir, ID);
  return { hostDir, dest: hostFilePath(hostDir, ID, entry.path) };
}

const leftovers = async (hostDir: string) => fs.readdir(path.join(metaDir(hostDir), 'tmp')).catch(() => [] as string[]);

describe('materialiseFile', () => {
  it('hardlinks on the same filesystem: the host file is the store blob', async () => {
    const blob = await blobWith(data);
    const { hostDir, dest } = await hostOn(undefined);
    expect(await materialiseFile(hostDir, blob, dest, entry)).toBe('hardlink');
    expect((await fs.stat(dest)).ino).toBe((await fs.stat(blob)).ino);
    expect(await leftovers(hostDir)).toEqual([]);
  });

  describe.skipIf(!otherFs)('across filesystems', () => {
    it('copies, hashing as it writes: right bytes, read-only, no temp file left', async () => {
      const blob = await blobWith(data);
      const { hostDir, dest } = await hostOn(otherFs);
      expect(await materialiseFile(hostDir, blob, dest, entry)).toBe('copy');
      expect((await fs.readFile(dest)).equals(data)).toBe(true);
      expect((await fs.stat(dest)).mode & 0o777).toBe(0o444);
      expect(await leftovers(hostDir)).toEqual([]);
    });

    it('refuses a blob that changed in the store (same size, other bytes): exit 4, the previous file stays', async () => {
      const bad = Buffer.from(data);
      bad[bad.length - 1]! ^= 0xff;
      const blob = await blobWith(bad);
      const { hostDir, dest } = await hostOn(otherFs);
      await fs.writeFile(dest, 'previous version');
      const err = await materialiseFile(hostDir, blob, dest, entry).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).message).toContain(`expected ${entry.sha256}`);
      expect(await fs.readFile(dest, 'utf8')).toBe('previous version');
      expect(await leftovers(hostDir)).toEqual([]);
    });

    it('update: a store copy that fails while it is copied is removed, exit 4; the next run downloads it again', async () => {
      const artifacts = [{ id: ID, files: [{ path: entry.path, data }] }];
      const server = await startFaultServer({ files: serverFiles(artifacts) });
      try {
        const { hostDir } = await hostOn(otherFs);
        const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }], hostDir }));
        expect((await runCliCaptured(['update', '--manifest', p.manifest])).code).toBe(0);
        // bit rot in the store that no metadata shows: flip a byte, then make the state cache vouch for it
        const blob = blobPath(p.cacheDir, entry.sha256);
        await fs.chmod(blob, 0o644);
        const fh = await fs.open(blob, 'r+');
        await fh.write(Buffer.from([data[1000]! ^ 0xff]), 0, 1, 1000);
        await fh.close();
        await fs.chmod(blob, 0o444);
        const state = JSON.parse(await fs.readFile(storeStatePath(p.cacheDir), 'utf8'));
        state.entries[entry.sha256].id = statIdentity(await fs.lstat(blob, { bigint: true }));
        await fs.writeFile(storeStatePath(p.cacheDir), JSON.stringify(state));
        await fs.rm(hostFilePath(hostDir, ID, entry.path), { force: true });

        const requests = server.requests.length;
        const bad = await runCliCaptured(['update', '--manifest', p.manifest]);
        expect(bad.code).toBe(ExitCode.integrity);
        expect(bad.stdout).toMatch(/copy in the store changed after it was verified/);
        await expect(fs.access(blob)).rejects.toThrow(); // not used again
        await expect(fs.access(hostFilePath(hostDir, ID, entry.path))).rejects.toThrow();
        expect(server.requests.length).toBe(requests);

        const again = await runCliCaptured(['update', '--manifest', p.manifest]);
        expect(again.code, again.stderr).toBe(0);
        expect((await fs.readFile(hostFilePath(hostDir, ID, entry.path))).equals(data)).toBe(true);
        expect(server.requests.length).toBeGreaterThan(requests);
      } finally {
        await server.close();
      }
    });

    it('refuses a blob longer than the manifest says without copying past the size', async () => {
      const blob = await blobWith(Buffer.concat([data, randomBytes(5 * 1024 * 1024)]));
      const { hostDir, dest } = await hostOn(otherFs);
      const err = await materialiseFile(hostDir, blob, dest, entry).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).message).toMatch(new RegExp(`size ${data.length + 5 * 1024 * 1024} bytes, expected ${data.length}`));
      await expect(fs.access(dest)).rejects.toThrow();
      expect(await leftovers(hostDir)).toEqual([]);
    });
  });
});

describe('placing staged files', () => {
  it('a staged name the rename left (another run linked the same inode there just before) is removed afterwards; the tmp folder holds nothing else of ours', async () => {
    const blob = await blobWith(data);
    const { hostDir, dest } = await hostOn(undefined);
    const staged = await stageFile(hostDir, blob, dest, entry);
    const other = path.join(metaDir(hostDir), 'tmp', 'model.safetensors.otherhost.1.000000000001.tmp');
    await fs.writeFile(other, 'another run');
    // the race: another run put the same blob at dest between our look and our rename
    await fs.link(blob, dest);
    await placeStaged(staged, undefined, true);
    expect((await fs.stat(dest)).ino).toBe((await fs.stat(blob)).ino);
    await dropStagedLeftovers([staged]);
    expect(await leftovers(hostDir)).toEqual([path.basename(other)]);
    expect((await fs.stat(blob)).nlink).toBe(2);
  });
});

describe('a failure with no errno while staging', () => {
  it('is passed on as it is (a bug shows as one), not reported as a disk fault (EIO, "see dmesg")', async () => {
    const blob = await blobWith(data);
    const { hostDir, dest } = await hostOn(undefined);
    const bug = new TypeError('undefined is not a function');
    const link = vi.spyOn(fs, 'link').mockRejectedValueOnce(bug);
    try {
      const err = await stageFile(hostDir, blob, dest, entry).catch((e: unknown) => e);
      expect(link).toHaveBeenCalled();
      expect(err).toBe(bug);
      expect(err).not.toBeInstanceOf(DiskError);
    } finally {
      link.mockRestore();
    }
  });
});
