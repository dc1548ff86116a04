/**
 * materialiseFile: a store blob into the host folder by hardlink on the same filesystem, by a
 * copy hashed while it is written on another one, never exposing a wrong or partial file.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IntegrityError } from '../lib/errors.ts';
import { hostFilePath, metaDir } from '../lib/layout.ts';
import type { FileEntry } from '../lib/manifest/schema.ts';
import { ensureRealDir, materialiseFile } from '../lib/store/materialise.ts';
import { tempDir } from './helpers/cli.ts';

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
