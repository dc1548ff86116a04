/**
 * The per-file look of a cached verify (one lstat per file, compared with the state cache's
 * identity) in ONE worker thread, answered in one message: the main thread's side of 20,000
 * `fs.promises.lstat(…, { bigint: true })` calls (a request, a promise and a BigIntStats each,
 * and the garbage behind them) was the largest part of a no-op update or verify of 20,000 files.
 * The worker (./stat-worker.mjs) only says which files the cache vouches for and which are not
 * there; everything else is looked at again on the main thread by the usual rules.
 *
 * lstatSync is never called on the main thread: on a hung mount only the worker hangs, and an
 * aborted run terminates it.
 */
import { Worker } from 'node:worker_threads';

/** worker answers (stat-worker.mjs) */
export const VERDICT = { look: 0, cached: 1, missing: 2 } as const;

/** One entry per file, by column (no object per file): */
export interface StatQueries {
  /** the host file (never followed if it is a link) */
  paths: string[];
  /** the size the manifest wants */
  sizes: number[];
  /** the identity its state-cache entry was recorded for ('' when there is none) */
  ids: string[];
}

/** Below this many files the worker's start (~20 ms of CPU) costs more than it saves. */
export const STAT_WORKER_MIN = 512;

/**
 * One verdict per query (VERDICT), or undefined when the worker could not do it (the caller
 * looks at every file itself). Rejects with an AbortError when `signal` is aborted.
 */
export async function statVerdicts(queries: StatQueries, signal?: AbortSignal): Promise<Uint8Array | undefined> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./stat-worker.mjs', import.meta.url), {
        workerData: { paths: queries.paths, sizes: queries.sizes, ids: queries.ids },
      });
    } catch {
      resolve(undefined);
      return;
    }
    let settled = false;
    const finish = (value: Uint8Array | undefined, err?: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    const onAbort = (): void => {
      // a worker stuck in a hung mount may never end: do not wait for it, and never let it keep the process alive
      worker.unref();
      void worker.terminate().catch(() => undefined);
      finish(undefined, signal?.reason ?? new DOMException('The operation was aborted', 'AbortError'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: { verdicts?: unknown }) => {
      const v = m?.verdicts;
      finish(v instanceof Uint8Array && v.length === queries.paths.length ? v : undefined);
    });
    worker.once('error', () => finish(undefined));
    worker.once('exit', () => finish(undefined));
  });
}
