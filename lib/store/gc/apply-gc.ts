/** Remove what a gc plan lists, and keep the verified-state caches in step with the removals. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { toDiskError } from '../../disk-failure.ts';
import { DiskError } from '../../errors.ts';
import { ensureRealDir } from '../../fs-safe.ts';
import { metaDir, storeStatePath } from '../../layout.ts';
import { ownerTag } from '../../owner.ts';
import { carryOverRelinked, StateCache } from '../../verify/state-cache.ts';
import { hostKeyPath } from '../../verify/verify-files.ts';
import { Store } from '../store.ts';
import { readDir } from './read-dir.ts';
import type { GcItem, GcPlan } from './types.ts';

/** Remove what `plan` lists. Artifact folders vanish at once (renamed away, then deleted). Returns what was removed. */
export async function applyGc(plan: GcPlan): Promise<GcItem[]> {
  const removed: GcItem[] = [];
  const stores = new Map<string, Store>();
  const hostCaches = new Map<string, StateCache>();
  try {
    for (const item of plan.removals) {
      try {
        if (item.kind === 'blob') {
          let store = stores.get(item.root);
          if (!store) stores.set(item.root, (store = await Store.open(item.root)));
          await store.evict(item.sha256!);
        } else if (item.kind === 'artifact') {
          // rename into the (unmounted) metadata folder first: nobody sees a half-deleted artifact
          const grave = path.join(await ensureRealDir(item.root, `${path.basename(metaDir(item.root))}/tmp`), `gc.${ownerTag()}.tmp`);
          await fs.rename(item.path, grave);
          await fs.rm(grave, { recursive: true, force: true });
          let cache = hostCaches.get(item.root);
          if (!cache) hostCaches.set(item.root, (cache = await StateCache.loadHost(item.root)));
          for (const key of cache.keys()) if (key.startsWith(`${item.id}/`)) cache.forget(key);
          await removeEmptyParents(item.root, item.id!);
        } else if (item.kind === 'release') {
          // an immutable release folder (lib/releases/gc.ts decided nothing mounts it): gone at once, like an artifact folder
          const grave = path.join(metaDir(item.root), 'tmp', `gc.${ownerTag()}.tmp`);
          await fs.mkdir(path.dirname(grave), { recursive: true });
          await fs.rename(item.path, grave);
          await fs.rm(grave, { recursive: true, force: true });
        } else if (item.kind === 'file') {
          // only a regular file where modelmount installed one (looked at again: the disk may have changed since the plan)
          if (!(await fs.lstat(item.path)).isFile()) continue;
          await fs.rm(item.path);
          let cache = hostCaches.get(item.root);
          if (!cache) hostCaches.set(item.root, (cache = await StateCache.loadHost(item.root)));
          cache.forget(`${item.id}/${item.file}`);
          await removeEmptyParents(item.root, `${item.id}/${item.file}`);
        } else {
          await fs.rm(item.path, { recursive: true, force: true });
        }
        removed.push(item);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // gone meanwhile
        throw toDiskError(err, `removing ${item.path}`) ?? new DiskError(`Could not remove ${item.path}: ${(err as Error).message}`, { cause: err });
      }
    }
    for (const store of stores.values()) {
      for (const shard of await readDir(path.join(store.dir, 'sha256'))) await fs.rmdir(path.join(store.dir, 'sha256', shard.name)).catch(() => {});
    }
    if (plan.shared.length) {
      for (const dir of plan.roots.hostDirs) if (!hostCaches.has(dir)) hostCaches.set(dir, await StateCache.loadHost(dir));
      for (const dir of plan.roots.stores) {
        if (!stores.has(dir) && (await fs.stat(storeStatePath(dir)).catch(() => undefined))) stores.set(dir, await Store.open(dir));
      }
      await carryOverRelinked(plan.shared, [
        ...[...hostCaches].map(([dir, cache]) => ({ cache, pathOf: (key: string) => hostKeyPath(dir, key) })),
        ...(await Promise.all([...stores.values()].map((store) => store.cacheWithPaths()))),
      ]);
    }
  } finally {
    await Promise.all([...stores.values()].map((s) => s.save()));
    await Promise.all([...hostCaches.values()].map((c) => c.save()));
  }
  return removed;
}

/** After removing `<root>/a/b/c`, remove `a/b` and `a` if they are now empty. */
async function removeEmptyParents(root: string, rel: string): Promise<void> {
  const segs = rel.split('/');
  for (let n = segs.length - 1; n > 0; n--) {
    try {
      await fs.rmdir(path.join(root, ...segs.slice(0, n)));
    } catch {
      return; // not empty (or gone)
    }
  }
}
