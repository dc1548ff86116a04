/**
 * The per-file look of a cached verify (one lstat per file, compared with the state cache's
 * identity) in ONE worker thread, answered in one message: the main thread's side of 20,000
 * `fs.promises.lstat(…, { bigint: true })` calls (a request, a promise and a BigIntStats each,
 * and the garbage behind them) was the largest part of a no-op update or verify of 20,000 files.
 * The worker (./stat-worker.mjs) only says which files the cache vouches for and which are not
 * there; everything else is looked at again on the main thread by the usual rules.
 *
 * lstatSync is never called on the main thread: on a hung mount only the worker hangs; the run
 * gives up on it (abort, or no progress for the idle bound: a stall) and is not held by it (see
 * statVerdicts).
 */
import { Worker } from 'node:worker_threads';
import { progressInterval, type IdleDeadline } from '../stall.ts';

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

export interface StatVerdictOptions {
  /** the verify's deadline on the host folder (naming it in its stall error, ending at its abort) */
  deadline: IdleDeadline;
  /** the worker script (tests: one that is silent, slow or missing); default ./stat-worker.mjs */
  workerUrl?: URL;
}

/**
 * One verdict per query (VERDICT), or undefined when the worker could not do it (it could not
 * start, or ended without an answer: the caller looks at every file itself, under the same deadline).
 * The worker reports progress as it goes, which `deadline` follows; silent for its idle bound (a
 * hung mount) it is the deadline's stall (a DiskError, ESTALLED, exit 5, naming the host folder),
 * and nobody looks again on the main thread, where the same lstat would hang too. Rejects with the
 * abort reason when the deadline's signal is aborted. A worker given up on counts as a stuck
 * operation until its thread really ends: a thread blocked in a system call cannot be terminated,
 * and the process cannot exit normally while it lives (stuckOperations()).
 */
export async function statVerdicts(queries: StatQueries, opts: StatVerdictOptions): Promise<Uint8Array | undefined> {
  const { deadline } = opts;
  let worker: Worker;
  try {
    worker = new Worker(opts.workerUrl ?? new URL('./stat-worker.mjs', import.meta.url), {
      workerData: { paths: queries.paths, sizes: queries.sizes, ids: queries.ids, progressMs: progressInterval(deadline) },
    });
  } catch {
    return undefined;
  }
  // settles when the thread has ended, with its answer if it gave one
  const ended = new Promise<Uint8Array | undefined>((resolve) => {
    let verdicts: Uint8Array | undefined;
    worker.on('message', (m: { verdicts?: unknown }) => {
      const v = m?.verdicts;
      if (v instanceof Uint8Array && v.length === queries.paths.length) verdicts = v;
      else deadline.progress();
    });
    worker.on('error', () => undefined);
    worker.once('exit', () => resolve(verdicts));
  });
  try {
    return await deadline.bound(ended);
  } catch (err) {
    void worker.terminate().catch(() => undefined);
    throw err;
  }
}
