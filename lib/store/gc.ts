/**
 * Garbage collection of the store and the host folder, in two steps like
 * update: `planGc` reads the disk and returns what nothing references any more
 * (and what a removal would really free, hardlinks counted); `applyGc` removes
 * exactly that and returns what it removed. What is referenced is decided by
 * the caller (manifests, install records, Compose overrides): this module only
 * never removes anything inside a protected path.
 *
 *   <cache>/sha256/ab/<sha>          blobs whose sha256 is not kept
 *   <cache>/tmp/*.partial[.validator] interrupted downloads (and their If-Range hint) untouched for a day
 *   <host>/<folder>/…                artifact folders no protected id is in or under
 *   <host>/.modelmount/tmp/*.tmp     leftovers of interrupted installs
 *   *.tmp, lock leftovers            of interrupted atomic writes, older than an hour
 */
import type { BigIntStats, Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DiskError, toDiskError } from '../errors.ts';
import { ownerTag } from '../owner.ts';
import { hostStatePath, metaDir, storeStatePath, storeTmpDir } from '../layout.ts';
import { carryOverRelinked, StateCache } from '../verify/state-cache.ts';
import { hostKeyPath } from '../verify/verify-files.ts';
import { FOREIGN_TMP_MAX_AGE_MS, hostTempOwner } from './materialise.ts';
import { Store } from './store.ts';

export const PARTIAL_MAX_AGE_MS = 24 * 60 * 60 * 1000;
export const LEFTOVER_MAX_AGE_MS = 60 * 60 * 1000;

export type GcKind = 'blob' | 'artifact' | 'partial' | 'tmp';

export interface GcItem {
  kind: GcKind;
  path: string;
  /** apparent size: every regular file below `path` */
  bytes: number;
  sha256?: string;
  /** artifact folder: its path relative to the host folder (an artifact id, or a parent folder of several) */
  id?: string;
  /** the store or host folder it belongs to */
  root: string;
}

export interface GcKept {
  hostDir: string;
  id: string;
  why: string[];
}

export interface GcPlan {
  removals: GcItem[];
  kept: { blobs: number; artifacts: GcKept[] };
  skipped: { path: string; reason: string }[];
  /** sum of the removals' sizes */
  bytes: number;
  /** what removing them gives back: a file still hardlinked from something that stays frees nothing */
  bytesFreed: number;
  /** the stores and host folders looked at: their verified-state caches follow the removals */
  roots: { stores: string[]; hostDirs: string[] };
  /** files the removals take a name from while other names stay: removing it moves their ctime */
  shared: BigIntStats[];
}

export interface GcInput {
  stores: string[];
  hostDirs: {
    dir: string;
    /** relative POSIX paths (artifact ids, or mounted folders) never to remove, with why */
    protect: Map<string, string[]>;
  }[];
  /** sha256 of every blob to keep */
  keepBlobs: ReadonlySet<string>;
  now?: number;
}

const SHA_RE = /^[0-9a-f]{64}$/;

interface Inode {
  nlink: number;
  size: number;
  removed: number;
  /** its stat when the plan was made (for carrying verified state over to the names that stay) */
  stat: BigIntStats;
}

async function readDir(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw toDiskError(err, `reading ${dir}`) ?? err;
  }
}

/** Apparent size of a tree (no symlinks followed), counting every regular file's links into `inodes`. */
async function measure(p: string, inodes: Map<string, Inode>): Promise<number> {
  const st = await fs.lstat(p, { bigint: true });
  if (st.isFile()) {
    const key = `${st.dev}:${st.ino}`;
    const entry = inodes.get(key) ?? { nlink: Number(st.nlink), size: Number(st.size), removed: 0, stat: st };
    entry.removed++;
    inodes.set(key, entry);
    return Number(st.size);
  }
  if (!st.isDirectory()) return 0;
  let total = 0;
  for (const e of await readDir(p)) total += await measure(path.join(p, e.name), inodes);
  return total;
}

function isUnder(rel: string, parent: string): boolean {
  return parent === '' || rel === parent || rel.startsWith(`${parent}/`);
}

export async function planGc(input: GcInput): Promise<GcPlan> {
  const now = input.now ?? Date.now();
  const removals: GcItem[] = [];
  const skipped: GcPlan['skipped'] = [];
  const kept: GcPlan['kept'] = { blobs: 0, artifacts: [] };
  const inodes = new Map<string, Inode>();
  const add = async (item: Omit<GcItem, 'bytes'>): Promise<void> => {
    removals.push({ ...item, bytes: await measure(item.path, inodes) });
  };
  const oldFiles = async (dir: string, test: (name: string) => boolean, maxAgeMs: number, root: string, kind: GcKind): Promise<void> => {
    for (const e of await readDir(dir)) {
      if (!test(e.name)) continue;
      const p = path.join(dir, e.name);
      const st = await fs.lstat(p).catch(() => undefined);
      if (st && now - st.mtimeMs >= maxAgeMs) await add({ kind, path: p, root });
    }
  };
  const lockLeftover = (n: string) => n.startsWith('.modelmount.lock.') && (n.endsWith('.tmp') || n.endsWith('.released'));

  for (const store of input.stores) {
    for (const shard of await readDir(path.join(store, 'sha256'))) {
      if (!shard.isDirectory()) continue;
      for (const e of await readDir(path.join(store, 'sha256', shard.name))) {
        if (!e.isFile() || !SHA_RE.test(e.name)) continue;
        if (input.keepBlobs.has(e.name)) kept.blobs++;
        else await add({ kind: 'blob', path: path.join(store, 'sha256', shard.name, e.name), sha256: e.name, root: store });
      }
    }
    await oldFiles(storeTmpDir(store), (n) => n.endsWith('.partial') || n.endsWith('.partial.validator'), PARTIAL_MAX_AGE_MS, store, 'partial');
    await oldFiles(store, (n) => n.endsWith('.tmp') || lockLeftover(n), LEFTOVER_MAX_AGE_MS, store, 'tmp');
  }

  for (const { dir, protect } of input.hostDirs) {
    let meta;
    try {
      meta = await fs.lstat(metaDir(dir));
    } catch {
      // never installed into: nothing of ours to collect (and maybe not a modelmount folder at all)
    }
    if (!meta?.isDirectory()) {
      if (await fs.stat(dir).then(() => true, () => false)) {
        skipped.push({ path: dir, reason: `not a modelmount host folder (no ${path.basename(metaDir(dir))}/ inside): left alone` });
      }
      continue;
    }
    const protectedPaths = [...protect.keys()];
    for (const [id, why] of protect) {
      if (await fs.lstat(path.join(dir, ...id.split('/').filter(Boolean))).then(() => true, () => false)) kept.artifacts.push({ hostDir: dir, id, why });
    }
    const visit = async (rel: string): Promise<void> => {
      for (const e of await readDir(path.join(dir, ...rel.split('/').filter(Boolean)))) {
        const child = rel ? `${rel}/${e.name}` : e.name;
        const p = path.join(dir, ...child.split('/'));
        if (rel === '' && (e.name === path.basename(metaDir(dir)) || e.name.startsWith('.modelmount.lock'))) continue;
        if (protectedPaths.some((k) => isUnder(child, k))) continue; // referenced, or inside something referenced
        if (e.isSymbolicLink()) {
          skipped.push({ path: p, reason: 'a symlink (modelmount never creates them): remove it yourself if it is not needed' });
          continue;
        }
        if (!e.isDirectory()) continue; // loose files are not artifacts: left alone
        if (protectedPaths.some((k) => isUnder(k, child))) await visit(child); // a parent folder of something referenced
        else await add({ kind: 'artifact', path: p, id: child, root: dir });
      }
    };
    await visit('');
    // a temp file of a live install (no lock on NFS) is never taken: a dead owner's at once, an unknown one's after an hour
    await oldFiles(path.join(metaDir(dir), 'tmp'), (n) => n.endsWith('.tmp') && hostTempOwner(n) === 'gone', 0, dir, 'tmp');
    await oldFiles(path.join(metaDir(dir), 'tmp'), (n) => n.endsWith('.tmp') && hostTempOwner(n) === 'unknown', FOREIGN_TMP_MAX_AGE_MS, dir, 'tmp');
    await oldFiles(metaDir(dir), (n) => n.endsWith('.tmp'), LEFTOVER_MAX_AGE_MS, dir, 'tmp');
    await oldFiles(dir, lockLeftover, LEFTOVER_MAX_AGE_MS, dir, 'tmp');
  }

  let bytesFreed = 0;
  for (const i of inodes.values()) if (i.removed >= i.nlink) bytesFreed += i.size;
  return {
    removals,
    kept,
    skipped,
    bytes: removals.reduce((s, r) => s + r.bytes, 0),
    bytesFreed,
    roots: { stores: input.stores, hostDirs: input.hostDirs.map((h) => h.dir) },
    shared: [...inodes.values()].filter((i) => i.removed < i.nlink).map((i) => i.stat),
  };
}

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
          const grave = path.join(metaDir(item.root), 'tmp', `gc.${ownerTag()}.tmp`);
          await fs.mkdir(path.dirname(grave), { recursive: true });
          await fs.rename(item.path, grave);
          await fs.rm(grave, { recursive: true, force: true });
          let cache = hostCaches.get(item.root);
          if (!cache) hostCaches.set(item.root, (cache = await StateCache.load(hostStatePath(item.root))));
          for (const key of cache.keys()) if (key.startsWith(`${item.id}/`)) cache.forget(key);
          await removeEmptyParents(item.root, item.id!);
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
      for (const dir of plan.roots.hostDirs) if (!hostCaches.has(dir)) hostCaches.set(dir, await StateCache.load(hostStatePath(dir)));
      for (const dir of plan.roots.stores) {
        if (!stores.has(dir) && (await fs.stat(storeStatePath(dir)).catch(() => undefined))) stores.set(dir, await Store.open(dir));
      }
      await carryOverRelinked(plan.shared, [
        ...[...hostCaches].map(([dir, cache]) => ({ cache, pathOf: (key: string) => hostKeyPath(dir, key) })),
        ...[...stores.values()].map((store) => store.cacheWithPaths()),
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
