/**
 * Garbage collection of the store and the host folder, in two steps like
 * update: `planGc` reads the disk and returns what nothing references any more
 * (and what a removal would really free, hardlinks counted); `applyGc`
 * (apply-gc.ts) removes exactly that and returns what it removed. What is wanted,
 * and what modelmount installed, is decided by the caller (manifests, install
 * records, Compose overrides): in a host folder gc removes only files an install
 * record says modelmount installed that nothing wants any more, and reports
 * everything else as not ours (plan-host.ts).
 *
 *   <cache>/sha256/ab/<sha>          blobs whose sha256 is not kept (held instead when not confirmed)
 *   <cache>/tmp/*.partial[.validator|.prefix] interrupted downloads (and their If-Range hint, valid prefix) untouched for a day
 *   <host>/<artifact id>/            a whole artifact folder, when all it holds is ours and unwanted
 *   <host>/<artifact id>/<file>      else each of our unwanted files (the rest stays: not ours)
 *   <host>/.modelmount/tmp/*.tmp     leftovers of interrupted installs
 *   *.tmp, lock leftovers            of interrupted atomic writes, older than an hour
 */
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { refuseLinksBelow } from '../../fs-safe.ts';
import { metaDir, storeTmpDir } from '../../layout.ts';
import { SEALED_SUFFIX } from '../claim-partial.ts';
import { FOREIGN_TMP_MAX_AGE_MS, hostTempOwner } from '../host-temps.ts';
import { planHost } from './plan-host.ts';
import { readDir } from './read-dir.ts';
import type { GcInput, GcItem, GcKind, GcPlan } from './types.ts';

export const PARTIAL_MAX_AGE_MS = 24 * 60 * 60 * 1000;
export const LEFTOVER_MAX_AGE_MS = 60 * 60 * 1000;

const SHA_RE = /^[0-9a-f]{64}$/;

interface Inode {
  nlink: number;
  size: number;
  removed: number;
  /** its stat when the plan was made (for carrying verified state over to the names that stay) */
  stat: BigIntStats;
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
    await oldFiles(storeTmpDir(store), (n) => n.endsWith('.partial') || n.endsWith('.partial.validator') || n.endsWith('.partial.prefix') || n.endsWith(SEALED_SUFFIX), PARTIAL_MAX_AGE_MS, store, 'partial');
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
