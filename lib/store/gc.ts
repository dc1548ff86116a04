/**
 * Garbage collection of the store and the host folder, in two steps like
 * update: `planGc` reads the disk and returns what nothing references any more
 * (and what a removal would really free, hardlinks counted); `applyGc` removes
 * exactly that and returns what it removed. What is wanted, and what modelmount
 * installed, is decided by the caller (manifests, install records, Compose overrides):
 * in a host folder this module removes only files an install record says modelmount
 * installed that nothing wants any more, and reports everything else as not ours.
 *
 *   <cache>/sha256/ab/<sha>          blobs whose sha256 is not kept (held instead when not confirmed)
 *   <cache>/tmp/*.partial[.validator|.prefix] interrupted downloads (and their If-Range hint, valid prefix) untouched for a day
 *   <host>/<artifact id>/            a whole artifact folder, when all it holds is ours and unwanted
 *   <host>/<artifact id>/<file>      else each of our unwanted files (the rest stays: not ours)
 *   <host>/.modelmount/tmp/*.tmp     leftovers of interrupted installs
 *   *.tmp, lock leftovers            of interrupted atomic writes, older than an hour
 */
import type { BigIntStats, Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DiskError, toDiskError } from '../errors.ts';
import { ensureRealDir, refuseLinksBelow } from '../fs-safe.ts';
import { ownerTag } from '../owner.ts';
import { metaDir, storeStatePath, storeTmpDir } from '../layout.ts';
import { checkSafeRelativePath } from '../manifest/paths.ts';
import { carryOverRelinked, StateCache } from '../verify/state-cache.ts';
import { hostKeyPath } from '../verify/verify-files.ts';
import { FOREIGN_TMP_MAX_AGE_MS, hostTempOwner } from './materialise.ts';
import { Store } from './store.ts';

export const PARTIAL_MAX_AGE_MS = 24 * 60 * 60 * 1000;
export const LEFTOVER_MAX_AGE_MS = 60 * 60 * 1000;

export type GcKind = 'blob' | 'artifact' | 'file' | 'partial' | 'tmp' | 'release';

export interface GcItem {
  kind: GcKind;
  path: string;
  /** apparent size: every regular file below `path` */
  bytes: number;
  sha256?: string;
  /** artifact folder or file: the artifact id (its folder relative to the host folder) */
  id?: string;
  /** file: its path inside the artifact */
  file?: string;
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
  /** what is in a host folder that no install record says modelmount put there: never touched */
  notOurs: { path: string; reason: string }[];
  /** unreferenced blobs left in the store because nobody confirmed their removal (`holdBlobs`) */
  held: { blobs: number; bytes: number };
  /** sum of the removals' sizes */
  bytes: number;
  /** what removing them gives back: a file still hardlinked from something that stays frees nothing */
  bytesFreed: number;
  /** the stores and host folders looked at: their verified-state caches follow the removals */
  roots: { stores: string[]; hostDirs: string[] };
  /** files the removals take a name from while other names stay: removing it moves their ctime */
  shared: BigIntStats[];
}

export interface GcHost {
  dir: string;
  /** relative POSIX folders never to touch, with why (what a Compose override mounts) */
  protect: Map<string, string[]>;
  /** artifact id → why it stays and which of its files are wanted (given manifests, live install records) */
  wanted: Map<string, { why: string[]; files: Set<string> }>;
  /** what install records say modelmount installed here: artifact id → file paths */
  owned: Map<string, Set<string>>;
}

export interface GcInput {
  stores: string[];
  hostDirs: GcHost[];
  /** sha256 of every blob to keep */
  keepBlobs: ReadonlySet<string>;
  /** list unreferenced blobs as held instead of removing them (nobody said yes) */
  holdBlobs?: boolean;
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
  const notOurs: GcPlan['notOurs'] = [];
  const held: GcPlan['held'] = { blobs: 0, bytes: 0 };
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
    // sweeps never go through a link at the store's own folders
    await refuseLinksBelow(store, path.join(store, 'sha256'));
    await refuseLinksBelow(store, storeTmpDir(store));
    for (const shard of await readDir(path.join(store, 'sha256'))) {
      if (!shard.isDirectory()) continue;
      for (const e of await readDir(path.join(store, 'sha256', shard.name))) {
        if (!e.isFile() || !SHA_RE.test(e.name)) continue;
        const p = path.join(store, 'sha256', shard.name, e.name);
        if (input.keepBlobs.has(e.name)) kept.blobs++;
        else if (input.holdBlobs) {
          held.blobs++;
          held.bytes += (await fs.lstat(p).catch(() => ({ size: 0 }))).size;
        } else await add({ kind: 'blob', path: p, sha256: e.name, root: store });
      }
    }
    await oldFiles(storeTmpDir(store), (n) => n.endsWith('.partial') || n.endsWith('.partial.validator') || n.endsWith('.partial.prefix'), PARTIAL_MAX_AGE_MS, store, 'partial');
    await oldFiles(store, (n) => n.endsWith('.tmp') || lockLeftover(n), LEFTOVER_MAX_AGE_MS, store, 'tmp');
  }

  for (const host of input.hostDirs) {
    const { dir } = host;
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
    await planHost(host, { add, kept, skipped, notOurs });
    await refuseLinksBelow(dir, path.join(metaDir(dir), 'tmp'));
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
    notOurs,
    held,
    bytes: removals.reduce((s, r) => s + r.bytes, 0),
    bytesFreed,
    roots: { stores: input.stores, hostDirs: input.hostDirs.map((h) => h.dir) },
    shared: [...inodes.values()].filter((i) => i.removed < i.nlink).map((i) => i.stat),
  };
}

interface HostSink {
  add: (item: Omit<GcItem, 'bytes'>) => Promise<void>;
  kept: GcPlan['kept'];
  skipped: GcPlan['skipped'];
  notOurs: GcPlan['notOurs'];
}

const NOT_OURS = 'not ours, left alone (no install record says modelmount put it there)';

async function lstatOrUndefined(p: string) {
  return fs.lstat(p).catch(() => undefined);
}

/** Every entry below `dir` (relative POSIX paths), without following a symlink: regular files, and anything else that is not a folder. */
async function listTree(dir: string, rel = ''): Promise<{ files: string[]; others: string[] }> {
  const out = { files: [] as string[], others: [] as string[] };
  for (const e of await readDir(path.join(dir, ...rel.split('/').filter(Boolean)))) {
    const child = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      const sub = await listTree(dir, child);
      out.files.push(...sub.files);
      out.others.push(...sub.others);
    } else (e.isFile() ? out.files : out.others).push(child);
  }
  return out;
}

/** The first folder on the way from `dir` to `dir/rel` that is not a real folder: undefined when all are, 'missing' when one is not there. */
async function brokenChain(dir: string, rel: string): Promise<string | 'missing' | undefined> {
  const segs = rel.split('/');
  for (let n = 1; n <= segs.length; n++) {
    const p = path.join(dir, ...segs.slice(0, n));
    const st = await lstatOrUndefined(p);
    if (!st) return 'missing';
    if (!st.isDirectory()) return p;
  }
  return undefined;
}

/** One host folder: our unwanted files and artifact folders go; what no record lists is reported, never touched. */
async function planHost(host: GcHost, sink: HostSink): Promise<void> {
  const { dir, protect, wanted, owned } = host;
  const keepFolders = [...new Set([...protect.keys(), ...wanted.keys()])];
  for (const id of keepFolders) {
    if (!(await lstatOrUndefined(path.join(dir, ...id.split('/').filter(Boolean))))) continue;
    sink.kept.artifacts.push({ hostDir: dir, id, why: [...(wanted.get(id)?.why ?? []), ...(protect.get(id) ?? [])] });
  }
  const mounted = [...protect.keys()];
  for (const [id, files] of owned) {
    if (checkSafeRelativePath(id) || mounted.some((k) => isUnder(id, k))) continue; // unsafe (a hand-edited record), or mounted whole
    const want = wanted.get(id)?.files;
    const removable = [...files].filter((f) => !checkSafeRelativePath(f) && !want?.has(f) && !mounted.some((k) => isUnder(`${id}/${f}`, k)));
    if (!removable.length) continue;
    const artDir = path.join(dir, ...id.split('/'));
    const broken = await brokenChain(dir, id);
    if (broken === 'missing') continue; // already gone
    if (broken) {
      sink.skipped.push({ path: broken, reason: 'not a real folder (a symlink or a file) on the way to an artifact: nothing below it is touched' });
      continue;
    }
    const others = keepFolders.filter((k) => k !== id && isUnder(k, id)); // another artifact nested inside this one
    if (!want && !others.length) {
      const content = await listTree(artDir);
      const mine = new Set(removable);
      const foreign = [...content.files.filter((f) => !mine.has(f)), ...content.others];
      if (!foreign.length) {
        await sink.add({ kind: 'artifact', path: artDir, id, root: dir });
        continue;
      }
      for (const f of foreign) sink.notOurs.push({ path: path.join(artDir, ...f.split('/')), reason: NOT_OURS });
    }
    for (const f of removable) {
      const p = path.join(artDir, ...f.split('/'));
      if (others.some((k) => isUnder(`${id}/${f}`, k)) || (await brokenChain(dir, path.posix.dirname(`${id}/${f}`)))) continue;
      const st = await lstatOrUndefined(p);
      if (st?.isFile()) await sink.add({ kind: 'file', path: p, id, file: f, root: dir });
      else if (st) sink.notOurs.push({ path: p, reason: `${NOT_OURS}: modelmount installed a file here, this is not one` });
    }
  }
  // everything else in the host folder: reported, never touched
  const known = [...new Set([...owned.keys(), ...keepFolders])];
  const visit = async (rel: string): Promise<void> => {
    for (const e of await readDir(path.join(dir, ...rel.split('/').filter(Boolean)))) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (rel === '' && (e.name === path.basename(metaDir(dir)) || e.name.startsWith('.modelmount.lock'))) continue;
      if (known.some((k) => isUnder(child, k))) continue; // an artifact folder (or inside one): handled above
      if (e.isDirectory() && known.some((k) => isUnder(k, child))) await visit(child); // a parent folder of artifacts
      else sink.notOurs.push({ path: path.join(dir, ...child.split('/')), reason: e.isSymbolicLink() ? `${NOT_OURS}: a symlink (modelmount never creates them)` : NOT_OURS });
    }
  };
  await visit('');
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
