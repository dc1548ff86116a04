/**
 * Carry out a plan, file by file: bring the bytes into the store (once per
 * sha256, bounded by `jobs`), then materialise them in the host folder.
 * Nothing is visible in the host folder before it has been verified.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, ModelmountError } from '../errors.ts';
import { hostFilePath } from '../layout.ts';
import type { PlannedFile } from '../plan.ts';
import type { Source } from '../sources/types.ts';
import type { FetchProgress } from '../store/fetch-blob.ts';
import { ensureRealDir, materialiseFile, type MaterialiseMethod } from '../store/materialise.ts';
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
  status: 'ok' | 'failed';
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

export class Installer {
  private readonly filler: StoreFiller;
  /** per blob: the last hardlinking of it, so the before/after stats of each link are its own */
  private readonly linking = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: InstallerDeps) {
    this.filler = new StoreFiller(deps);
  }

  async installFile(pf: PlannedFile, onProgress: (p: FetchProgress) => void = () => {}): Promise<FileResult> {
    const base = { artifactId: pf.artifactId, path: pf.path, size: pf.size, sha256: pf.sha256, action: pf.action };
    if (pf.action === 'skip') return { ...base, status: 'ok', bytesTransferred: 0, resumedFrom: 0 };
    const { store, hostDir, hostCache } = this.deps;
    const { source, bytesTransferred, resumedFrom } = await this.filler.ensure(pf, onProgress);
    const dest = hostFilePath(hostDir, pf.artifactId, pf.path);
    const relDir = path.posix.dirname(`${pf.artifactId}/${pf.path}`);
    await ensureRealDir(hostDir, relDir);
    const method = await this.oneLinkAtATime(pf.sha256, async () => {
      const blob = store.blobPath(pf.sha256);
      // Hardlinking changes the blob's ctime, which every verified-state entry of that inode (the
      // store's, other host files with the same bytes) includes: carry them over, or the next run
      // would hash those files again.
      const before = await fs.lstat(blob, { bigint: true }).catch(() => undefined); // missing: materialiseFile says so
      // The file this one replaces may be a name of an older blob: renaming over it moves that blob's ctime too.
      const replaced = await fs.lstat(dest, { bigint: true }).catch(() => undefined);
      const how = await materialiseFile(hostDir, blob, dest, { path: pf.path, size: pf.size, sha256: pf.sha256 }).catch(async (err: unknown) => {
        // a store copy that no longer verifies (seen while copying it) must not be used again
        if (err instanceof IntegrityError) await store.evict(pf.sha256);
        throw err;
      });
      const st = await fs.lstat(dest, { bigint: true });
      if (how === 'hardlink' && before) {
        store.cacheWithPaths().cache.relinked(before, st);
        hostCache.relinked(before, st);
      }
      if (replaced?.isFile() && replaced.nlink > 1n && (replaced.dev !== st.dev || replaced.ino !== st.ino)) {
        await carryOverRelinked([replaced], [store.cacheWithPaths(), { cache: hostCache, pathOf: (key) => hostKeyPath(hostDir, key) }]);
      }
      hostCache.record(cacheKey(pf.artifactId, pf.path), st, pf.sha256);
      return how;
    });
    onProgress({ done: pf.size, total: pf.size, source });
    return { ...base, status: 'ok', source, method, bytesTransferred, resumedFrom };
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
