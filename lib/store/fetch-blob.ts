/**
 * Get one blob into the content-addressed store from the first source that
 * delivers the right bytes. One pass: every chunk is hashed as it arrives and kept
 * in a sink (lib/store/blob-sink.ts): written to a partial file at once, or, for a
 * small blob, in memory until verified. A blob gets its store name only after size
 * and sha256 match and its bytes are fsynced.
 *
 * Resume: an interrupted transfer leaves a partial (lib/store/partial.ts); the
 * next attempt re-hashes its bytes and asks the source for the rest. A source
 * that answers from byte 0 instead restarts the file.
 *
 * A large file from a source that serves byte ranges is fetched over several connections
 * (lib/store/fetch-ranges.ts); `<partial>.prefix` then says how much of the partial is valid.
 * The transfers themselves (one connection, or pieces): lib/store/receive-bytes.ts.
 *
 * Each source is tried until one attempt (trySource) says what comes next: done, again at once
 * (from byte 0 after a mismatch, or in a fresh partial), the next source, or a reopen after a wait.
 */
import { systemClock } from '../clock.ts';
import { AllSourcesFailedError, IntegrityError, ModelmountError, nodeErrorCode, SourceError, type SourceAttempt } from '../errors.ts';
import type { FileEntry } from '../manifest/schema.ts';
import type { Source } from '../sources/types.ts';
import { RANGED_MIN_SIZE } from './fetch-ranges.ts';
import { type TmpListing } from './claim-partial.ts';
import { openSink } from './memory-blob.ts';
import { PartialBlob } from './partial.ts';
import { moveIntoStore, prepareStoreTmp } from './place-blob.ts';
import type { RunFolders } from '../run-folders.ts';
import { fetchInPieces, fetchStream, type Transfer, type TransferOptions } from './receive-bytes.ts';
import { ReopenBudget } from './reopen-budget.ts';

export interface FetchBlobOptions extends TransferOptions {
  cacheDir: string;
  file: FileEntry;
  sources: Source[];
  /**
   * Called once every byte has arrived and matched the manifest, before the blob is fsynced and
   * moved into the store: the caller may start its next transfer meanwhile.
   */
  onVerified?: () => void;
  /** another host's partials (shared store) untouched for less than this are left alone (default 60 s) */
  partialMinAgeMs?: number;
  /** files at least this large are fetched over several connections (default 64 MiB) */
  rangedMinSize?: number;
  /**
   * The names in <cache>/tmp read once for the run (default: a readdir per blob). Used for a blob
   * below `rangedMinSize` only: a big one looks for a partial left since (another run's, killed).
   */
  tmpListing?: TmpListing;
  /**
   * The blob's store folder is fsynced by the caller, once for many blobs, before anything depends
   * on its name (default: at once, one fsync per blob). Used for a blob below `rangedMinSize` only:
   * a big one's name is made durable at once, so a crash in a long run never costs a multi-GiB
   * download again.
   */
  deferDirSync?: (dir: string) => void;
  /** the store folders this run checked are real (lib/run-folders.ts; default: checked for this blob) */
  folders?: RunFolders;
}

/** FetchBlobOptions with their defaults applied (resolveOptions) */
interface ResolvedOptions extends FetchBlobOptions {
  rangedMinSize: number;
}

export interface FetchBlobResult {
  blob: string;
  source: string;
  /** bytes received over the wire in this run */
  transferred: number;
  /** bytes reused from an earlier partial (re-hashed) */
  resumedFrom: number;
}

/** One fetch of one blob: its partial, and what the sources did so far. */
interface Fetch extends Transfer {
  opts: ResolvedOptions;
  attempts: SourceAttempt[];
  integrityFailure?: IntegrityError;
}

/** What one source does next, for the loop in fetchFrom. */
type Step =
  | { kind: 'done'; result: FetchBlobResult }
  /** at once, no reopen counted: from byte 0 after a mismatch, or in a fresh partial */
  | { kind: 'again' }
  /** this source is done (its failure is in the attempts) */
  | { kind: 'next-source' }
  | { kind: 'retry-after'; ms: number };

/** What one source may still do, across its attempts. */
interface SourceRun {
  source: Source;
  reopens: ReopenBudget;
  restartedForMismatch: boolean;
  /** several connections for a large file, once per source; what it leaves is resumed with one */
  rangedTried: boolean;
}

export async function fetchBlob(options: FetchBlobOptions): Promise<FetchBlobResult> {
  const opts = resolveOptions(options);
  const { file } = opts;
  const tmpDir = await prepareStoreTmp(opts.cacheDir, opts.folders);
  const partial = await openSink(tmpDir, file, opts);
  const f: Fetch = { opts, file, label: `${opts.artifactId}/${file.path}`, tmpDir, partial, transferred: 0, attempts: [] };
  try {
    await partial.load(file.size);
    for (const source of opts.sources) {
      const result = await fetchFrom(f, source);
      if (result) return result;
    }
    if (f.integrityFailure) {
      partial.worthKeeping = false;
      const others = f.attempts.filter((a) => a.code !== 'EINTEGRITY');
      if (f.attempts.length > 1 && others.length) f.integrityFailure.data!.otherAttempts = others;
      throw f.integrityFailure;
    }
    // Keep a partial only if it holds bytes worth resuming.
    partial.worthKeeping = partial.pos > 0;
    throw new AllSourcesFailedError(f.label, f.attempts);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOSPC') partial.worthKeeping = false;
    throw err;
  } finally {
    await partial.close();
  }
}

function resolveOptions(opts: FetchBlobOptions): ResolvedOptions {
  const rangedMinSize = opts.rangedMinSize ?? RANGED_MIN_SIZE;
  if (opts.file.size < rangedMinSize) return { ...opts, rangedMinSize };
  return { ...opts, rangedMinSize, tmpListing: undefined, deferDirSync: undefined };
}

/** Attempts at one source until it delivers (the result) or is done (undefined). */
async function fetchFrom(f: Fetch, source: Source): Promise<FetchBlobResult | undefined> {
  const { opts, file } = f;
  const run: SourceRun = {
    source,
    reopens: new ReopenBudget(opts),
    restartedForMismatch: false,
    rangedTried: !(source.ranges && opts.extraConnection && file.size >= opts.rangedMinSize),
  };
  for (;;) {
    opts.signal?.throwIfAborted();
    const step = await trySource(f, run);
    if (step.kind === 'done') return step.result;
    if (step.kind === 'next-source') return undefined;
    if (step.kind === 'retry-after') await (opts.clock ?? systemClock).sleep(step.ms, opts.signal);
  }
}

/** One attempt: get the missing bytes, verify, move into the store. Throws only what ends the whole fetch. */
async function trySource(f: Fetch, run: SourceRun): Promise<Step> {
  const { file, partial } = f;
  const before = partial.pos;
  try {
    if (!run.rangedTried && partial instanceof PartialBlob && partial.pos < file.size) {
      run.rangedTried = true;
      await fetchInPieces(f, partial, run.source);
    }
    if (partial.pos < file.size || file.size === 0) await fetchStream(f, run.source);
    if (partial.pos < file.size) throw new SourceError('ESHORT', `connection ended after ${partial.pos} of ${file.size} bytes`);
    return await verifyAndPlace(f, run);
  } catch (err) {
    return await judgeFailure(f, run, err, before);
  }
}

/**
 * A failed attempt: the next step for this source, or (rethrown) what ends the whole fetch: an
 * abort, or a local failure (disk errors end the run).
 */
async function judgeFailure(f: Fetch, run: SourceRun, err: unknown, before: number): Promise<Step> {
  const { partial } = f;
  if (f.opts.signal?.aborted) throw f.opts.signal.reason ?? err;
  if (err instanceof ModelmountError && !(err instanceof SourceError)) throw err;
  const progress = partial.pos - before;
  const wait = run.reopens.afterFailure(err, progress, f.file.size - before);
  if (err instanceof SourceError && !err.retryable && progress > 0) {
    // This response delivered bytes and then proved wrong (more than the manifest size…):
    // none of the partial is worth keeping for a resume.
    await partial.restart();
  }
  if (wait !== undefined) return { kind: 'retry-after', ms: wait };
  const code = err instanceof SourceError ? err.code : nodeErrorCode(err);
  const message = err instanceof ModelmountError ? err.message : describeStreamError(err);
  f.attempts.push({ source: run.source.display, code, message, ...(err instanceof SourceError && err.hint ? { hint: err.hint } : {}) });
  return { kind: 'next-source' };
}

/** Every byte is here: verify and move into the store, or start over. */
async function verifyAndPlace(f: Fetch, run: SourceRun): Promise<Step> {
  const { file, partial, opts } = f;
  const source = run.source;
  const actual = await partial.writer!.digest();
  if (actual !== file.sha256) {
    const mismatch = new IntegrityError(f.label, file, { size: partial.pos, sha256: actual }, source.name);
    const wasSpliced = partial.spliced;
    await partial.restart();
    if (wasSpliced && !run.restartedForMismatch) {
      // The prefix may have come from other bytes (changed file, other source): try once from zero.
      run.restartedForMismatch = true;
      return { kind: 'again' };
    }
    f.integrityFailure = mismatch;
    f.attempts.push({ source: source.display, code: mismatch.code, message: mismatch.message });
    return { kind: 'next-source' };
  }
  // Verified: make it durable and move it into the store.
  opts.onVerified?.();
  const sealed = await partial.seal(file.sha256);
  if (sealed === undefined) return { kind: 'again' }; // lost to another process: from byte 0
  const blob = await moveIntoStore(sealed, opts.cacheDir, file, f.label, { signal: opts.signal, deferDirSync: opts.deferDirSync, folders: opts.folders });
  partial.moved = true;
  return { kind: 'done', result: { blob, source: source.name, transferred: f.transferred, resumedFrom: partial.resumedFrom } };
}

function describeStreamError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'ECONNRESET') return 'connection reset mid-transfer';
  if (e.code === 'ERR_STREAM_PREMATURE_CLOSE') return 'connection closed mid-transfer';
  return e.code ? `transfer failed (${e.code})` : 'transfer failed';
}
