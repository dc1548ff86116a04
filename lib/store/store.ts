/**
 * The content-addressed store: <cacheDir>/sha256/ab/abcdef…, read-only blobs
 * that entered only after their size and sha256 matched. This is what a CI
 * cache-warm step fills and caches, and what `update --offline` installs from.
 */
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { mapLimit } from '../concurrency.ts';
import { fsyncDir, removeFile } from '../fs-atomic.ts';
import { makeDirs, refuseLinksBelow } from '../fs-safe.ts';
import { RunFolders } from '../run-folders.ts';
import { blobPath, storeRegistrationsDir, storeStatePath, storeTmpDir } from '../layout.ts';
import type { FileEntry } from '../manifest/schema.ts';
import { sha256File } from '../verify/hash.ts';
import { StateCache, type CacheWithPaths } from '../verify/state-cache.ts';
import { fetchBlob, type FetchBlobOptions, type FetchBlobResult } from './fetch-blob.ts';
import { TmpListing } from './claim-partial.ts';

export class Store {
  /**
   * The store's verified-state cache (<cacheDir>/state.json), read on first use: a no-op update
   * never asks the store, and the file holds an entry per blob (20,000 blobs: 4 MB of JSON).
   */
  private cacheLoad: Promise<StateCache> | undefined;

  private constructor(readonly dir: string) {}

  private stateCache(): Promise<StateCache> {
    return (this.cacheLoad ??= StateCache.load(storeStatePath(this.dir), 'cache'));
  }

  /**
   * `readOnly` (dry runs): nothing is created, evicted or saved. `locked`: this run holds the
   * store's run lock, so no other run adds blobs meanwhile and fetch() need not look again for
   * one its plan did not find (one failing lstat per new file). Where a lock does not hold (some
   * network filesystems) a blob placed meanwhile is still met safely: placeBlob keeps it.
   */
  static async open(dir: string, opts: { readOnly?: boolean; locked?: boolean } = {}): Promise<Store> {
    if (!opts.readOnly) {
      await makeDirs(dir, 'cache');
    }
    // the store's own folders are never used through a link (lib/fs-safe.ts)
    for (const sub of [path.join(dir, 'sha256'), storeTmpDir(dir), storeRegistrationsDir(dir)]) await refuseLinksBelow(dir, sub);
    const store = new Store(dir);
    store.readOnly = Boolean(opts.readOnly);
    store.locked = Boolean(opts.locked);
    return store;
  }

  private readOnly = false;
  private locked = false;
  /** <cache>/tmp's names, read once for this run's fetches */
  private tmpListing: TmpListing | undefined;
  /**
   * Store folders that got a blob whose name is not yet fsynced. One fsync per folder before an
   * artifact is switched in (syncNewBlobs) and at save(), instead of one per blob: 20,000 small
   * files went into 256 folders with 20,000 folder fsyncs (issue 15). The blobs' bytes are still
   * fsynced one by one before they get a name.
   */
  private readonly unsynced = new Set<string>();
  /** <cache>/tmp and the blob folders, checked real once a second for this run's many fetches */
  private readonly folders = new RunFolders();
  /** the folder fsyncs under way (syncNewBlobs) */
  private syncing: Promise<void> = Promise.resolve();

  blobPath(sha256: string): string {
    return blobPath(this.dir, sha256);
  }

  /** Is a blob with exactly these bytes in the store? Uses the state cache unless `full`. A bad blob is removed. */
  async has(file: FileEntry, opts: { full?: boolean; signal?: AbortSignal } = {}): Promise<boolean> {
    return (await this.check(file, opts)) !== undefined;
  }

  /** has(), answered with the blob's lstat (undefined: not there, or removed as bad). */
  async check(file: FileEntry, opts: { full?: boolean; signal?: AbortSignal } = {}): Promise<BigIntStats | undefined> {
    const p = this.blobPath(file.sha256);
    let st;
    try {
      st = await fs.lstat(p, { bigint: true });
    } catch {
      return undefined;
    }
    if (!st.isFile() || Number(st.size) !== file.size) {
      await this.evict(file.sha256);
      return undefined;
    }
    const cache = await this.stateCache();
    if (!opts.full && cache.lookup(file.sha256, st) === file.sha256) return st;
    const sha = await sha256File(p, opts.signal);
    if (sha !== file.sha256) {
      await this.evict(file.sha256);
      return undefined;
    }
    cache.record(file.sha256, st, sha);
    return st;
  }

  /** fetchBlob into this store; `blobStat`: the blob's lstat once it is there (the installer's "before" of its first link) */
  async fetch(opts: Omit<FetchBlobOptions, 'cacheDir' | 'tmpListing' | 'deferDirSync' | 'folders'>): Promise<FetchBlobResult & { blobStat?: BigIntStats }> {
    // another run may have put the blob here since the plan was made (no lock, or a shared store)
    const present = this.locked ? undefined : await this.check(opts.file, { signal: opts.signal });
    if (present) {
      return { blob: this.blobPath(opts.file.sha256), source: 'store', transferred: 0, resumedFrom: 0, blobStat: present };
    }
    // a small blob shares the run's listing of <cache>/tmp and the folder fsync per artifact (a big one: neither, see FetchBlobOptions)
    const result = await fetchBlob({
      ...opts,
      cacheDir: this.dir,
      tmpListing: (this.tmpListing ??= new TmpListing(storeTmpDir(this.dir))),
      deferDirSync: (dir) => this.unsynced.add(dir),
      folders: this.folders,
    });
    return { ...result, blobStat: await this.remember(opts.file.sha256) };
  }

  /** the verified-state cache with each key's blob path: the installer and gc carry entries over when a blob gains or loses a hardlink */
  async cacheWithPaths(): Promise<CacheWithPaths> {
    return { cache: await this.stateCache(), pathOf: (sha256) => this.blobPath(sha256) };
  }

  /** Record the blob's current identity as verified (after we wrote it). Returns its lstat (undefined: gone). */
  async remember(sha256: string): Promise<BigIntStats | undefined> {
    const cache = await this.stateCache();
    try {
      const st = await fs.lstat(this.blobPath(sha256), { bigint: true });
      cache.record(sha256, st, sha256);
      return st;
    } catch {
      cache.forget(sha256);
      return undefined;
    }
  }

  async evict(sha256: string): Promise<void> {
    if (this.readOnly) return;
    (await this.stateCache()).forget(sha256);
    await removeFile(this.blobPath(sha256));
  }

  /** Make the names of the blobs fetched so far durable (their folders fsynced): before anything outside the store depends on them. */
  async syncNewBlobs(): Promise<void> {
    const dirs = [...this.unsynced];
    this.unsynced.clear();
    // artifacts switch in parallel: one that finds the set emptied by another must still wait for those fsyncs
    const done = Promise.all([this.syncing, mapLimit(dirs, 4, fsyncDir)]).then(() => undefined);
    this.syncing = done.catch(() => undefined);
    await done;
  }

  /** Make the new blobs' names durable, and persist the state cache if it was read and changed. */
  async save(): Promise<void> {
    if (this.readOnly) return;
    await this.syncNewBlobs();
    if (!this.cacheLoad) return;
    await (await this.cacheLoad).save();
  }
}
