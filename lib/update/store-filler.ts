/**
 * Bring blobs into the content-addressed store: once per sha256 even when
 * several files (or artifacts) share the bytes, at most `jobs` transfers at a
 * time, progress fanned out to every file waiting for the same blob. Used by
 * the Installer (update) and by `warm`, which fills the store and stops there.
 */
import type { BigIntStats } from 'node:fs';
import { Semaphore } from '../concurrency.ts';
import type { PlannedFile } from '../plan.ts';
import type { Source } from '../sources/types.ts';
import type { FetchBlobResult } from '../store/fetch-blob.ts';
import type { FetchProgress } from '../store/receive-bytes.ts';
import type { Store } from '../store/store.ts';

export interface StoreFillerDeps {
  store: Store;
  sources: Source[];
  jobs: number;
  signal?: AbortSignal;
}

export interface EnsuredBlob {
  /** source name the bytes came from; "store" when they were already there */
  source: string;
  /** bytes received for this blob; reported on the first file that asked for it, 0 on the others */
  bytesTransferred: number;
  resumedFrom: number;
  /** the blob's lstat when the store last looked at it in this run (before any link of this run's, if the first) */
  blobStat?: BigIntStats;
}

export class StoreFiller {
  private readonly transfers: Semaphore;
  private readonly inflight = new Map<string, Promise<FetchBlobResult>>();
  /** a fetched blob's lstat until the file that started its fetch takes it (not kept for the run: 20,000 of them) */
  private readonly fetchedStats = new Map<string, BigIntStats>();
  private readonly progressListeners = new Map<string, Set<(p: FetchProgress) => void>>();
  private readonly counted = new Set<string>();

  constructor(private readonly deps: StoreFillerDeps) {
    this.transfers = new Semaphore(deps.jobs);
  }

  get store(): Store {
    return this.deps.store;
  }

  /** One fetch per sha256 even when several files (or artifacts) share the bytes. */
  private fetchOnce(pf: PlannedFile, onProgress: (p: FetchProgress) => void): Promise<FetchBlobResult> {
    let listeners = this.progressListeners.get(pf.sha256);
    if (!listeners) this.progressListeners.set(pf.sha256, (listeners = new Set()));
    listeners.add(onProgress);
    let p = this.inflight.get(pf.sha256);
    if (!p) {
      p = this.transfers.use((release) =>
        this.deps.store.fetch({
          artifactId: pf.artifactId,
          file: { path: pf.path, size: pf.size, sha256: pf.sha256 },
          sources: this.deps.sources,
          signal: this.deps.signal,
          // the next transfer may start while this blob is fsynced and moved into the store
          onVerified: release,
          // one large file may use free transfer slots for more connections (pieces in parallel)
          extraConnection: () => this.transfers.tryAcquire(),
          onProgress: (prog) => {
            for (const l of this.progressListeners.get(pf.sha256) ?? []) l(prog);
          },
        }),
      ).then(({ blobStat, ...result }) => {
        if (blobStat) this.fetchedStats.set(pf.sha256, blobStat);
        return result;
      });
      this.inflight.set(pf.sha256, p);
      // a settled fetch reports no more progress: its listeners (closures over their files) go
      const drop = (): void => void this.progressListeners.delete(pf.sha256);
      p.then(drop, drop);
    }
    return p;
  }

  /** Make sure the store holds `pf`'s verified bytes (planned `via: 'store'`: check, else fetch). */
  async ensure(pf: PlannedFile, onProgress: (p: FetchProgress) => void = () => {}): Promise<EnsuredBlob> {
    const { store } = this.deps;
    if (pf.via === 'store') {
      const blobStat = await store.check({ path: pf.path, size: pf.size, sha256: pf.sha256 }, { signal: this.deps.signal });
      if (blobStat) return { source: 'store', bytesTransferred: 0, resumedFrom: 0, blobStat };
    }
    const fetched = await this.fetchOnce(pf, onProgress);
    // shared fetches report their bytes once, on the file that started them
    if (this.counted.has(pf.sha256)) return { source: fetched.source, bytesTransferred: 0, resumedFrom: 0 };
    this.counted.add(pf.sha256);
    const blobStat = this.fetchedStats.get(pf.sha256);
    this.fetchedStats.delete(pf.sha256);
    return { source: fetched.source, bytesTransferred: fetched.transferred, resumedFrom: fetched.resumedFrom, blobStat };
  }
}
