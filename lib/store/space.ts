/**
 * Free-space check before any byte is fetched: the store needs room for the
 * blobs it lacks, the host folder for copies when hardlinks are impossible.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { folderMoveWords, folderSetting, type DiskFolder } from '../disk-folder.ts';
import { DiskError } from '../errors.ts';
import { formatBytes } from '../format.ts';

/** statfs of the nearest existing ancestor of `dir` */
export async function statNearest(dir: string): Promise<{ free: number; dev: number }> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      const [sf, st] = await Promise.all([fs.statfs(current), fs.stat(current)]);
      return { free: sf.bavail * sf.bsize, dev: st.dev };
    } catch (err) {
      const parent = path.dirname(current);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw err;
      current = parent;
    }
  }
}

export interface SpaceNeed {
  dir: string;
  /** which folder `dir` is, for the hint naming how to move it */
  folder: DiskFolder;
  bytes: number;
  what: string;
}

/** Do two folders (or, if missing, their nearest existing parents) live on one filesystem? */
export async function sameFilesystem(a: string, b: string): Promise<boolean> {
  try {
    const [sa, sb] = await Promise.all([statNearest(a), statNearest(b)]);
    return sa.dev === sb.dev;
  } catch {
    return false;
  }
}

/** Throws DiskError (exit 5) naming how much is needed where. Needs on the same filesystem add up. */
export async function checkFreeSpace(needs: SpaceNeed[], margin = 64 * 1024 * 1024): Promise<void> {
  const byDev = new Map<number, { free: number; bytes: number; dirs: string[]; folders: DiskFolder[]; whats: string[] }>();
  for (const need of needs) {
    if (need.bytes <= 0) continue;
    const { free, dev } = await statNearest(need.dir);
    const entry = byDev.get(dev) ?? { free, bytes: 0, dirs: [], folders: [], whats: [] };
    entry.bytes += need.bytes;
    entry.dirs.push(need.dir);
    entry.folders.push(need.folder);
    entry.whats.push(need.what);
    byDev.set(dev, entry);
  }
  for (const e of byDev.values()) {
    if (e.bytes + margin > e.free) {
      throw new DiskError(
        `Not enough free space: ${e.whats.join(' and ')} need ${formatBytes(e.bytes)} (plus ${formatBytes(margin)} headroom) in ${e.dirs.join(', ')}, but only ${formatBytes(e.free)} is free.`,
        {
          code: 'ENOSPC',
          hint: `Free some space, or ${folderMoveWords(`point ${folderSetting(e.folders)} at a bigger disk`, 'a bigger disk')}. Nothing was changed.`,
          data: { needed: e.bytes, free: e.free, dirs: e.dirs },
        },
      );
    }
  }
}
