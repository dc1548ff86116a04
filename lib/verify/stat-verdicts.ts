/**
 * The per-file look of a cached verify (one lstat per file, compared with the state cache's
 * identity) in ONE worker thread, answered in one message: the main thread's side of 20,000
 * `fs.promises.lstat(…, { bigint: true })` calls (a request, a promise and a BigIntStats each,
 * and the garbage behind them) was the largest part of a no-op update or verify of 20,000 files.
 * The worker (./stat-worker.mjs) only says which files the cache vouches for and which are not
 * there; everything else is looked at again on the main thread by the usual rules.
 *
 * lstatSync is never called on the main thread: on a hung mount only the worker hangs; the run
 * gives up on it (abort or deadline) and is not held by it (see statVerdicts).
 */
import { Worker } from 'node:worker_threads';
import { STALL_DEFAULTS, withinDeadline } from '../stall.ts';

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
 * looks at every file itself). Rejects with an AbortError when `signal` is aborted. A worker that
 * has not answered within STALL_DEFAULTS.idleMs (a hung mount) is given up on and counted as a
 * stuck operation until its thread really ends: a thread blocked in a system call cannot be
 * terminated, and the process cannot exit normally while it lives (stuckOperations()).
 */
export async function statVerdicts(queries: StatQueries, signal?: AbortSignal): Promise<Uint8Array | undefined> {
  signal?.throwIfAborted();
  let worker: Worker;
  try {
    worker = new Worker(new URL('./stat-worker.mjs', import.meta.url), {
      workerData: { paths: queries.paths, sizes: queries.sizes, ids: queries.ids },
    });
  } catch {
    return undefined;
  }
  // settles when the thread has ended, with its answer if it gave one
  const ended = new Promise<Uint8Array | undefined>((resolve) => {
    let verdicts: Uint8Array | undefined;
    worker.once('message', (m: { verdicts?: unknown }) => {
      const v = m?.verdicts;
      if (v instanceof Uint8Array && v.length === queries.paths.length) verdicts = v;
    });
    worker.on('error', () => undefined);
    worker.once('exit', () => resolve(verdicts));
  });
  try {
    return await withinDeadline(ended, STALL_DEFAULTS.idleMs, () => new Error('the stat worker did not answer'), { signal });
  } catch (err) {
    void worker.terminate().catch(() => undefined);
    if (signal?.aborted) throw signal.reason ?? err;
    return undefined;
  }
}
