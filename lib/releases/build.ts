/**
 * Materialise a release: a complete copy of one artifact version in
 * `<hostDir>/.modelmount/releases/<artifact id>/<artifact digest>/`, made of hardlinks to the
 * verified files (the same inodes as the store blobs: no extra space); where the host folder has
 * no hardlinks, of reflinks or verified copies (lib/store/link-or-copy.ts). Its folders are
 * readable by every user whatever the umask (makeDirs 'host'): it is what containers mount. It is assembled under
 * `<hostDir>/.modelmount/tmp/`, checked whole (every file the verified inode of its manifest
 * entry), and only then renamed into place in one step, so a release folder is either absent or
 * complete. Nothing writes into a release afterwards; gc removes it whole.
 */
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { toDiskError } from '../disk-failure.ts';
import { DiskError, IntegrityError } from '../errors.ts';
import { fsyncDir } from '../fs-atomic.ts';
import { makeDirs } from '../fs-safe.ts';
import { hostFilePath, metaDir, releaseDir } from '../layout.ts';
import type { FileEntry } from '../manifest/schema.ts';
import { taggedName } from '../owner.ts';
import { linkOrCopy } from '../store/link-or-copy.ts';
import { sha256File } from '../verify/hash.ts';
import type { StateCache } from '../verify/state-cache.ts';
import { cacheKey } from '../verify/verify-files.ts';

export interface BuildReleaseDeps {
  hostDir: string;
  /** verified-state caches whose entries follow an inode when a link changes its ctime (host folder, store) */
  hostCache: StateCache;
  otherCaches?: StateCache[];
}

/** A release folder that exists holds the files with the right sizes (it was complete when renamed into place). */
export async function releaseIntact(dir: string, files: readonly FileEntry[]): Promise<boolean> {
  const st = await fs.lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) return false;
  for (const f of files) {
    const fst = await fs.lstat(path.join(dir, ...f.path.split('/'))).catch(() => undefined);
    if (!fst?.isFile() || fst.size !== f.size) return false;
  }
  return true;
}

/**
 * The release of `artifactId` with `files` (digest `digest`), made from the verified files in
 * `<hostDir>/<artifact id>/`: 'exists' when it was already there, 'built' when made now.
 */
export async function buildRelease(deps: BuildReleaseDeps, artifactId: string, digest: string, files: readonly FileEntry[]): Promise<'exists' | 'built'> {
  const { hostDir, hostCache } = deps;
  const final = releaseDir(hostDir, artifactId, digest);
  if (await releaseIntact(final, files)) return 'exists';
  const tmpRoot = path.join(metaDir(hostDir), 'tmp');
  const staging = path.join(tmpRoot, taggedName(`release-${digest.slice(0, 12)}`, '.tmp'));
  try {
    await makeDirs(staging, 'host');
    for (const f of files) {
      const src = hostFilePath(hostDir, artifactId, f.path);
      const dest = path.join(staging, ...f.path.split('/'));
      await makeDirs(path.dirname(dest), 'host');
      const before = await fs.lstat(src, { bigint: true }).catch(() => undefined);
      if (!before?.isFile() || before.size !== BigInt(f.size)) throw new IntegrityError(src, f, { size: before?.isFile() ? Number(before.size) : 0 }, 'the host folder');
      const known = hostCache.lookup(cacheKey(artifactId, f.path), before);
      const sha256 = known ?? (await sha256File(src));
      if (sha256 !== f.sha256) throw new IntegrityError(src, f, { size: f.size, sha256 }, 'the host folder');
      if ((await linkOrCopy(src, dest, f, { where: 'the host folder', hint: REPLACED })) === 'hardlink') {
        const after = await fs.lstat(dest, { bigint: true });
        if (!sameInode(before, after)) throw new IntegrityError(src, f, { size: Number(after.size) }, 'the host folder', REPLACED);
        // link() moved the inode's ctime: carry the verified-state entries over
        hostCache.relinked(before, after);
        for (const c of deps.otherCaches ?? []) c.relinked(before, after);
      } else {
        // a copy was hashed as it was written; a reflink shares the blocks of what is there now
        const now = await fs.lstat(src, { bigint: true });
        if (!unchanged(before, now)) throw new IntegrityError(src, f, { size: Number(now.size) }, 'the host folder', REPLACED);
      }
      if (!known) hostCache.record(cacheKey(artifactId, f.path), await fs.lstat(src, { bigint: true }), sha256);
    }
    await makeDirs(path.dirname(final), 'host');
    await fs.rename(staging, final).catch(async (err: NodeJS.ErrnoException) => {
      // another run made it meanwhile (ENOTEMPTY/EEXIST): the existing one is as good
      if ((err.code === 'ENOTEMPTY' || err.code === 'EEXIST') && (await releaseIntact(final, files))) return;
      throw err;
    });
    await fsyncDir(path.dirname(final));
    return 'built';
  } catch (err) {
    if (err instanceof IntegrityError || err instanceof DiskError) throw err;
    throw toDiskError(err, `making the release ${final}`, 'host') ?? err;
  } finally {
    await fs.rm(staging, { recursive: true, force: true }).catch(() => {});
  }
}

const REPLACED = 'The file was replaced while its release was made: run the same command again.';

function sameInode(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** The same file, not written to since `a` (size, modification and change times). */
function unchanged(a: BigIntStats, b: BigIntStats): boolean {
  return sameInode(a, b) && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}
