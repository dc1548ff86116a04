/**
 * Carry out a plan, artifact by artifact: bring the bytes into the store (once per
 * sha256, bounded by `jobs`), stage each file, then switch a whole artifact into the
 * host folder at once. Nothing is visible in the host folder before it has been
 * verified, and an artifact is installed whole or not at all.
 */
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { mapLimit } from '../concurrency.ts';
import { IntegrityError, ModelmountError, type DiskError } from '../errors.ts';
import { fsyncDir, removeFile } from '../fs-atomic.ts';
import { hostFilePath } from '../layout.ts';
import type { PlannedFile } from '../plan.ts';
import type { Source } from '../sources/types.ts';
import type { FetchProgress } from '../store/receive-bytes.ts';
import {
  backupDest,
  discardStaged,
  dropStagedLeftovers,
  folderInTheWay,
  moveAside,
  placeStaged,
  restoreBackup,
  stageFile,
  SWITCH_IN_FLIGHT,
  type Backup,
  type StagedFile,
} from '../store/materialise.ts';
import type { MaterialiseMethod } from '../store/link-or-copy.ts';
import { ensureRealDir } from '../fs-safe.ts';
import { RunFolders } from '../run-folders.ts';
import { backupNotPutBack, keepBackup } from '../store/keep-backup.ts';
import { SwitchAside } from '../store/switch-aside.ts';
import type { Store } from '../store/store.ts';
import { carryOverRelinked, type StateCache } from '../verify/state-cache.ts';
import { StoreFiller } from './store-filler.ts';
import { cacheKey, hostKeyPath } from '../verify/verify-files.ts';

export interface FileResult {
  artifactId: string;
  path: string;
  size: number;
  sha256: string;
  action: PlannedFile['action'];
  /** not-installed: this file was fine, but another file of its artifact failed (an artifact is installed whole or not at all) */
  status: 'ok' | 'failed' | 'not-installed';
  /** source name the bytes came from ("store" when they were already there) */
  source?: string;
  method?: MaterialiseMethod;
  bytesTransferred: number;
  resumedFrom: number;
  error?: ModelmountError;
}

export interface InstallerDeps {
  store: Store;
  hostDir: string;
  sources: Source[];
  jobs: number;
  hostCache: StateCache;
  signal?: AbortSignal;
}

interface Pending {
  pf: PlannedFile;
  staged: StagedFile;
}

/** The file of an artifact whose check or switch failed (every file switched was put back, unless `notPutBack`). */
export interface SwitchFailure {
  path: string;
  error: unknown;
  /** files switched in whose previous version could not be put back: each error names where it is kept */
  notPutBack?: { path: string; error: DiskError }[];
}

/**
 * Two steps per artifact, so that an artifact is installed whole or not at all:
 * installFile() brings each file's bytes into the store and stages a verified copy (or link)
 * under <hostDir>/.modelmount/tmp, visible nowhere; finishArtifact() then switches all of them
 * into place (keeping the previous files reachable until the last one is in, and putting them
 * back if a switch fails), or discards them all when any file of the artifact failed.
 */
export class Installer {
  private readonly filler: StoreFiller;
  /** per blob: the last hardlinking of it, so the before/after stats of each link are its own */
  private readonly linking = new Map<string, Promise<unknown>>();
  /** per artifact: its staged files, waiting for finishArtifact() */
  private readonly pending = new Map<string, Pending[]>();
  /**
   * Blobs this run has hardlinked (each link moves the inode's ctime). Before a blob's first link,
   * the store's own lstat of it (taken when it verified or was found) is its state still, as far as
   * this process goes: the look before the link is not made again (one of the ~12 per small file,
   * issue 15). What another process does meanwhile only makes a carried-over cache entry a miss,
   * never a false hit (relinked() carries only between stats of one device, inode, size and mtime).
   */
  private readonly linkedOnce = new Set<string>();
  /** <hostDir>/.modelmount/tmp, checked real once a second for this run's many stagings */
  private readonly folders = new RunFolders();

  constructor(private readonly deps: InstallerDeps) {
    this.filler = new StoreFiller(deps);
  }

  /** The result of a file the plan skips (already the verified bytes): nothing to do, no wait. */
  skipResult(pf: PlannedFile): FileResult {
    return { artifactId: pf.artifactId, path: pf.path, size: pf.size, sha256: pf.sha256, action: pf.action, status: 'ok', bytesTransferred: 0, resumedFrom: 0 };
  }

  /** Fetch (if needed) and stage one file; nothing in the host folder changes until finishArtifact(). */
  async installFile(pf: PlannedFile, onProgress: (p: FetchProgress) => void = () => {}): Promise<FileResult> {
    if (pf.action === 'skip') return this.skipResult(pf);
    const { store, hostDir, hostCache } = this.deps;
    const { source, bytesTransferred, resumedFrom, blobStat } = await this.filler.ensure(pf, onProgress);
    const dest = hostFilePath(hostDir, pf.artifactId, pf.path);
    const staged = await this.oneLinkAtATime(pf.sha256, async () => {
      const blob = store.blobPath(pf.sha256);
      // Hardlinking changes the blob's ctime, which every verified-state entry of that inode (the
      // store's, other host files with the same bytes) includes: carry them over, or the next run
      // would hash those files again. The store's own lstat will do if nothing of this run linked it since.
      const before =
        (!this.linkedOnce.has(pf.sha256) ? blobStat : undefined) ?? (await fs.lstat(blob, { bigint: true }).catch(() => undefined)); // missing: stageFile says so
      const staged = await stageFile(hostDir, blob, dest, { path: pf.path, size: pf.size, sha256: pf.sha256 }, { destChecked: true, folders: this.folders }).catch(async (err: unknown) => {
        // a store copy that no longer verifies (seen while copying it) must not be used again
        if (err instanceof IntegrityError) await store.evict(pf.sha256);
        throw err;
      });
      if (staged.method === 'hardlink') {
        this.linkedOnce.add(pf.sha256);
        if (before) {
          const st = await fs.lstat(staged.tmp, { bigint: true });
          (await store.cacheWithPaths()).cache.relinked(before, st);
          hostCache.relinked(before, st);
        }
      }
      return staged;
    });
    const list = this.pending.get(pf.artifactId) ?? this.pending.set(pf.artifactId, []).get(pf.artifactId)!;
    list.push({ pf, staged });
    onProgress({ done: pf.size, total: pf.size, source });
    // an object literal, not `{ ...base, more }`: V8 gives each of those a hidden class of its own
    // (20,000 for a many-file artifact: ~7 MB, issue 15)
    return { artifactId: pf.artifactId, path: pf.path, size: pf.size, sha256: pf.sha256, action: pf.action, status: 'ok', source, method: staged.method, bytesTransferred, resumedFrom };
  }

  /**
   * Switch every staged file of `artifactId` into place (`complete`: each of its files was staged),
   * or discard them all. Resolves with the file whose switch failed, or undefined.
   */
  async finishArtifact(artifactId: string, complete: boolean): Promise<SwitchFailure | undefined> {
    const files = this.pending.get(artifactId) ?? [];
    this.pending.delete(artifactId);
    if (!complete) {
      await discardStaged(files.map((f) => f.staged));
      return undefined;
    }
    const { store, hostDir, hostCache } = this.deps;
    // durable before the switch: the store names of this artifact's new blobs (their bytes are already)
    await store.syncNewBlobs();
    /** the files whose destination changed: put back on failure */
    const switched: { pf: PlannedFile; backup: Backup | undefined }[] = [];
    const backups = new Map<Pending, Backup | undefined>();
    /** the files replaced, as they were: another name of an older blob changes ctime when they go */
    const replaced: BigIntStats[] = [];
    /** staged names gone by their switch: nothing to discard */
    const placed = new Set<Pending>();
    /** backups a rollback could neither put back nor keep aside: the previous files' only names left, never removed */
    const keep = new Set<string>();
    const notPutBack: { path: string; error: DiskError }[] = [];
    /** where the previous files stay until the switch is over */
    const aside = new SwitchAside(hostDir, this.folders);
    /** the first file whose check or switch failed, with its error */
    let failed: { f: Pending; error: unknown } | undefined;
    const each = (work: (f: Pending) => Promise<void>) =>
      mapLimit(files, SWITCH_IN_FLIGHT, async (f) => {
        try {
          await work(f);
        } catch (error) {
          failed ??= { f, error };
          throw error;
        }
      });
    try {
      // the folders checked real once per switch: the renames below all come after this
      const checked = new Set<string>();
      for (const f of files) {
        const dir = path.posix.dirname(`${f.pf.artifactId}/${f.pf.path}`);
        if (checked.has(dir)) continue;
        try {
          await ensureRealDir(hostDir, dir, 'host');
        } catch (error) {
          failed = { f, error };
          throw error;
        }
        checked.add(dir);
      }
      // every destination looked at (and kept reachable) before any file is switched
      await each(async (f) => {
        const old = await fs.lstat(f.staged.dest, { bigint: true }).catch(() => undefined);
        if (old?.isDirectory()) throw folderInTheWay(f.staged.dest);
        if (old?.isFile() && old.nlink > 1n) replaced.push(old);
        backups.set(f, await backupDest(aside, f.staged.dest, old));
      });
      // Switched SWITCH_IN_FLIGHT at a time (one after another, 20,000 files took seconds of
      // round trips after the last byte); a failure starts no more and waits for those under way,
      // so `switched` is complete when it is rolled back.
      await each((f) =>
        this.oneLinkAtATime(f.pf.sha256, async () => {
          // renaming moves the staged inode's ctime: carry its entries over once more
          const hardlink = f.staged.method === 'hardlink';
          const before = hardlink ? await fs.lstat(f.staged.tmp, { bigint: true }).catch(() => undefined) : undefined;
          const backup = backups.get(f);
          // no hardlinks in the host folder: the previous file moves to its backup name right before
          // the new one is renamed in (the destination changed already: it is put back on failure)
          const movedAside = await moveAside(backup);
          if (movedAside) switched.push({ pf: f.pf, backup });
          // a staged name rename() leaves (the destination already was that inode) goes below, with
          // the others', in one dropStagedLeftovers
          await placeStaged(
            f.staged,
            () => {
              placed.add(f);
              if (!movedAside) switched.push({ pf: f.pf, backup });
            },
            true,
          );
          const st = await fs.lstat(f.staged.dest, { bigint: true });
          if (hardlink && before) {
            (await store.cacheWithPaths()).cache.relinked(before, st);
            hostCache.relinked(before, st);
          }
          hostCache.record(cacheKey(f.pf.artifactId, f.pf.path), st, f.pf.sha256);
        }),
      );
    } catch (error) {
      // put the previous version back (SWITCH_IN_FLIGHT at a time: each file has its own destination);
      // a backup that could not be put back is kept below .modelmount/kept (or, failing that, where it is)
      await mapLimit(switched, SWITCH_IN_FLIGHT, async (s) => {
        const dest = hostFilePath(hostDir, s.pf.artifactId, s.pf.path);
        if (!(await restoreBackup(dest, s.backup))) {
          const kept = await keepBackup(hostDir, s.pf.artifactId, s.pf.path, s.backup!.path).catch(() => undefined);
          if (kept === undefined) keep.add(s.backup!.path);
          notPutBack.push({ path: s.pf.path, error: backupNotPutBack(hostDir, dest, kept ?? s.backup!.path, kept !== undefined) });
        }
        hostCache.forget(cacheKey(s.pf.artifactId, s.pf.path));
      });
      return { path: failed?.f.pf.path ?? files[0]?.pf.path ?? '', error: failed?.error ?? error, ...(notPutBack.length ? { notPutBack } : {}) };
    } finally {
      await discardStaged(files.filter((f) => !placed.has(f)).map((f) => f.staged));
      await mapLimit([...backups.values()], SWITCH_IN_FLIGHT, async (backup) => {
        if (backup && !keep.has(backup.path)) await removeFile(backup.path).catch(() => {});
      });
      // one that must stay keeps the folder, for the user (the error's hint) and then the next sweep or gc
      if (!keep.size) await aside.remove();
      // only a hardlink can already be the destination's inode (a copy is a fresh one)
      const linked = [...placed].filter((f) => f.staged.method === 'hardlink').map((f) => f.staged);
      if (linked.length) await dropStagedLeftovers(linked);
      if (replaced.length) {
        const live = await Promise.all(files.map((f) => fs.lstat(f.staged.dest, { bigint: true }).catch(() => undefined)));
        const stale = replaced.filter((r) => !live.some((l) => l && l.dev === r.dev && l.ino === r.ino));
        if (stale.length) await carryOverRelinked(stale, [await store.cacheWithPaths(), { cache: hostCache, pathOf: (key) => hostKeyPath(hostDir, key) }]);
      }
      await mapLimit([...new Set(files.map((f) => path.dirname(f.staged.dest)))], SWITCH_IN_FLIGHT, fsyncDir);
    }
    return undefined;
  }

  private async oneLinkAtATime<T>(sha256: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.linking.get(sha256) ?? Promise.resolve();
    const mine = previous.catch(() => {}).then(fn);
    this.linking.set(sha256, mine);
    try {
      return await mine;
    } finally {
      if (this.linking.get(sha256) === mine) this.linking.delete(sha256);
    }
  }
}
