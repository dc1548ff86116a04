/**
 * The switch of an artifact racing another run without the lock (as on NFS): the other run puts
 * the same blob at a destination between this run's first look and its rename, so rename() finds
 * its own inode there and does nothing. The staged name it leaves in .modelmount/tmp is removed
 * before the switch ends (dropStagedLeftovers), and the installed file is right.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { blobPath, hostFilePath, hostStatePath, metaDir } from '../lib/layout.ts';
import type { PlannedFile } from '../lib/plan.ts';
import { createFileSource } from '../lib/sources/file.ts';
import { Store } from '../lib/store/store.ts';
import { Installer } from '../lib/update/installer.ts';
import { StateCache } from '../lib/verify/state-cache.ts';
import { sha256, tempDir } from './helpers/cli.ts';

const A = 'student/v0_ja';

describe('a switch racing an unlocked run that places the same blob', () => {
  it('leaves no staged name behind, and the host file is the blob', async () => {
    const data = randomBytes(5000);
    const root = await tempDir();
    await fs.mkdir(path.join(root, A), { recursive: true });
    await fs.writeFile(path.join(root, A, 'w.bin'), data);
    const cacheDir = await tempDir();
    const hostDir = await tempDir();
    const store = await Store.open(cacheDir);
    const hostCache = await StateCache.load(hostStatePath(hostDir), 'host');
    const installer = new Installer({ store, hostDir, sources: [createFileSource({ name: 'local', kind: 'file', base: root })], jobs: 2, hostCache });
    const pf: PlannedFile = { artifactId: A, path: 'w.bin', size: data.length, sha256: sha256(data), action: 'copy', via: 'file', host: 'missing', reason: 'test' };
    expect((await installer.installFile(pf)).status).toBe('ok');
    const dest = hostFilePath(hostDir, A, 'w.bin');
    const rename = fs.rename;
    const spy = vi.spyOn(fs, 'rename').mockImplementation(async (from, to) => {
      // the other run: the same blob linked at the destination just before this run's rename
      if (String(to) === dest) await fs.link(blobPath(cacheDir, pf.sha256), dest);
      return rename(from, to);
    });
    try {
      expect(await installer.finishArtifact(A, true)).toBeUndefined();
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    expect((await fs.stat(dest)).ino).toBe((await fs.stat(blobPath(cacheDir, pf.sha256))).ino);
    expect(await fs.readdir(path.join(metaDir(hostDir), 'tmp'))).toEqual([]);
  });
});
