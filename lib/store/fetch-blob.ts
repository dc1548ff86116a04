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
 *
 * Each source is tried until one attempt (trySource) says what comes next: done, again at once
 * (from byte 0 after a mismatch, or in a fresh partial), the next source, or a reopen after a wait.
 */
import { systemClock, type Clock } from '../clock.ts';
import { AllSourcesFailedError, IntegrityError, ModelmountError, nodeErrorCode, SourceError, toDiskError, type SourceAttempt } from '../errors.ts';
import type { FileEntry } from '../manifest/schema.ts';
import type { Source } from '../sources/types.ts';
import { formatBytes } from '../format.ts';
import { pipeToWriter } from './blob-writer.ts';
import { fetchRanges, RANGED_MIN_SIZE } from './fetch-ranges.ts';
import { type TmpListing } from './claim-partial.ts';
import type { BlobSink } from './blob-sink.ts';
import { openSink } from './memory-blob.ts';
import { PartialBlob } from './partial.ts';
import { moveIntoStore, prepareStoreTmp } from './place-blob.ts';
import { ReopenBudget, type ReopenOptions } from './reopen-budget.ts';

export interface FetchProgress {
  /** bytes of the file present so far (resumed prefix included) */
  done: number;
  total: number;
  source: string;
}

export interface FetchBlobOptions extends ReopenOptions {
  cacheDir: string;
  artifactId: string;
  file: FileEntry;
  sources: Source[];
  signal?: AbortSignal;
  onProgress?: (p: FetchProgress) => void;
  /**
   * Called once every byte has arrived and matched the manifest, before the blob is fsynced and
   * moved into the store: the caller may start its next transfer meanwhile.
   */
  onVerified?: () => void;
  /** another host's partials (shared store) untouched for less than this are left alone (default 60 s) */
  partialMinAgeMs?: number;
  /**
   * One more connection for this file (pieces of one large file fetched in parallel), if a slot is
   * free under the overall --jobs bound: returns its release, else undefined. Without it, one connection.
   */
  extraConnection?: () => (() => void) | undefined;
  /** files at least this large are fetched over several connections (default 64 MiB) */
  rangedMinSize?: number;
  /** bytes per piece when fetched over several connections (default: chosen from the size) */
  rangePieceSize?: number;
  /** waits before reopening a source (default: real time) */
  clock?: Clock;
  /** the names in <cache>/tmp read once for the run (default: a readdir per blob) */
  tmpListing?: TmpListing;
  /**
   * The blob's store folder is fsynced by the caller, once for many blobs, before anything depends
   * on its name (default: at once, one fsync per blob).
   */
  deferDirSync?: (dir: string) => void;
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
interface Fetch {
  opts: FetchBlobOptions;
  file: FileEntry;
  label: string;
  tmpDir: string;
  /** where the bytes go until verified: memory (small blobs) or a partial file */
  partial: BlobSink;
  transferred: number;
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

export async function fetchBlob(opts: FetchBlobOptions): Promise<FetchBlobResult> {
  const { file } = opts;
  const tmpDir = await prepareStoreTmp(opts.cacheDir);
  const partial = await openSink(tmpDir, file, { ...opts, rangedMinSize: opts.rangedMinSize ?? RANGED_MIN_SIZE });
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

/** Attempts at one source until it delivers (the result) or is done (undefined). */
async function fetchFrom(f: Fetch, source: Source): Promise<FetchBlobResult | undefined> {
  const { opts, file } = f;
  const run: SourceRun = {
    source,
    reopens: new ReopenBudget(opts),
    restartedForMismatch: false,
    rangedTried: !(source.ranges && opts.extraConnection && file.size >= (opts.rangedMinSize ?? RANGED_MIN_SIZE)),
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
  const blob = await moveIntoStore(sealed, opts.cacheDir, file, f.label, opts.signal, opts.deferDirSync);
  partial.moved = true;
  return { kind: 'done', result: { blob, source: source.name, transferred: f.transferred, resumedFrom: partial.resumedFrom } };
}

/** The rest of the file from `source` over one connection, appended to the partial (or from byte 0 if it answers so). */
async function fetchStream(f: Fetch, source: Source): Promise<void> {
  const { file, partial, opts } = f;
  const pos = partial.pos;
  const opened = await source.open({
    artifactId: opts.artifactId, path: file.path, offset: pos, expectedSize: file.size, expectedSha256: file.sha256,
    validator: partial.validatorFor(source.name), signal: opts.signal,
  });
  // Any source's stream may fail before pipeToWriter listens (below, after awaits): keep the
  // error in `stream.errored` for pipeToWriter to report instead of an unhandled 'error' event.
  opened.stream.on('error', () => {});
  if (opened.start !== pos) {
    if (opened.start !== 0) {
      opened.stream.destroy();
      throw new SourceError('EBADRANGE', `answered from byte ${opened.start}, asked for ${pos}`);
    }
    await partial.restart();
  }
  if (opened.start > 0) partial.spliced = true;
  // A fresh start records its validator; a resume keeps it only if the same source still
  // answers with the same one (otherwise the partial is a splice no validator describes).
  const saved = partial.saved;
  await partial.recordValidator(
    opened.start === 0
      ? opened.validator !== undefined ? { source: source.name, validator: opened.validator } : undefined
      : saved?.source === source.name && saved.validator === opened.validator ? saved : undefined,
  );
  const w = partial.writer!;
  try {
    await pipeToWriter(opened.stream, w, {
      check: (chunk) => {
        if (w.pos + chunk.length > file.size) {
          throw new SourceError('ESIZE', `sent more than the manifest size of ${file.size} bytes`, { retryable: false });
        }
      },
      onChunk: (chunk) => {
        f.transferred += chunk.length;
        opts.onProgress?.({ done: w.pos, total: file.size, source: source.name });
      },
    });
  } finally {
    // What arrived before a failure is kept (and hashed) for the next attempt; a write error wins.
    try {
      await w.flush();
    } catch (err) {
      throw toDiskError(err, `writing ${f.label} to ${f.tmpDir} (the file needs ${formatBytes(file.size)}, ${formatBytes(file.size - w.pos)} of it still unwritten)`) ?? err;
    }
  }
}

/** The rest of a large file from `source` in pieces over several connections; what it leaves is resumed with one. */
async function fetchInPieces(f: Fetch, partial: PartialBlob, source: Source): Promise<void> {
  const { file, opts } = f;
  const w = partial.writer!;
  const validator = partial.validatorFor(source.name);
  // a prefix whose origin no validator describes: pieces could not be checked against it
  if (partial.pos > 0 && validator === undefined) return;
  await w.flush();
  await partial.savePrefix(partial.pos);
  await partial.handle.truncate(file.size); // pieces then write inside the file, never extending it
  let have = partial.pos; // bytes present, counting pieces written out of order (for progress)
  let ranged;
  try {
    ranged = await fetchRanges({
      handle: partial.handle, writer: w, source, artifactId: opts.artifactId, path: file.path, size: file.size, sha256: file.sha256,
      validator, signal: opts.signal, pieceSize: opts.rangePieceSize, acquire: opts.extraConnection!,
      savePrefix: (n) => partial.savePrefix(n),
      onValidator: (v) => partial.recordValidator({ source: source.name, validator: v }),
      onBytes: (n) => {
        f.transferred += n;
        have += n;
        opts.onProgress?.({ done: have, total: file.size, source: source.name });
      },
      maxStalledReopens: opts.maxStalledReopens, reopenDelayMs: opts.reopenDelayMs, clock: opts.clock,
    });
  } finally {
    if (partial.pos < file.size) await partial.handle.truncate(partial.pos);
    await partial.clearPrefix();
  }
  // pieces no validator ties together may come from different versions of the file
  if (ranged.validator === undefined && ranged.transferred > 0) partial.spliced = true;
  await partial.recordValidator(ranged.validator !== undefined ? { source: source.name, validator: ranged.validator } : undefined);
}

function describeStreamError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'ECONNRESET') return 'connection reset mid-transfer';
  if (e.code === 'ERR_STREAM_PREMATURE_CLOSE') return 'connection closed mid-transfer';
  return e.code ? `transfer failed (${e.code})` : 'transfer failed';
}
