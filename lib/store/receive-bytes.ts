/**
 * One transfer of a blob's missing bytes from one source into its sink (lib/store/blob-sink.ts),
 * for fetchBlob (lib/store/fetch-blob.ts): over one connection, from the sink's position (or from
 * byte 0 if the source answers so), or, for a large file from a source that serves byte ranges,
 * in pieces over several connections (lib/store/fetch-ranges.ts). Each chunk counts in
 * `transferred` and is reported as progress.
 */
import type { Clock } from '../clock.ts';
import { diskFailure } from '../disk-failure.ts';
import { ModelmountError, SourceError } from '../errors.ts';
import type { FileEntry } from '../manifest/schema.ts';
import type { Source } from '../sources/types.ts';
import { formatBytes } from '../format.ts';
import type { BlobSink } from './blob-sink.ts';
import { pipeToWriter } from './blob-writer.ts';
import { fetchRanges } from './fetch-ranges.ts';
import type { PartialBlob } from './partial.ts';
import type { ReopenOptions } from './reopen-budget.ts';

export interface FetchProgress {
  /** bytes of the file present so far (resumed prefix included) */
  done: number;
  total: number;
  source: string;
}

/** What a transfer reads of fetchBlob's options. */
export interface TransferOptions extends ReopenOptions {
  artifactId: string;
  signal?: AbortSignal;
  onProgress?: (p: FetchProgress) => void;
  /**
   * One more connection for this file (pieces of one large file fetched in parallel), if a slot is
   * free under the overall --jobs bound: returns its release, else undefined. Without it, one connection.
   */
  extraConnection?: () => (() => void) | undefined;
  /** bytes per piece when fetched over several connections (default: chosen from the size) */
  rangePieceSize?: number;
  /** waits before reopening a source (default: real time) */
  clock?: Clock;
}

/** One fetch of one blob as a transfer sees it: where the bytes go, and how many arrived. */
export interface Transfer {
  opts: TransferOptions;
  file: FileEntry;
  label: string;
  tmpDir: string;
  /** where the bytes go until verified: memory (small blobs) or a partial file */
  partial: BlobSink;
  transferred: number;
}

/** The rest of the file from `source` over one connection, appended to the partial (or from byte 0 if it answers so). */
export async function fetchStream(f: Transfer, source: Source): Promise<void> {
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
      recycle: opened.recycle,
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
      throw diskFailure(err, `writing ${f.label} to ${f.tmpDir} (the file needs ${formatBytes(file.size)}, ${formatBytes(file.size - w.pos)} of it still unwritten)`);
    }
  }
}

/** The rest of a large file from `source` in pieces over several connections; what it leaves is resumed with one. */
export async function fetchInPieces(f: Transfer, partial: PartialBlob, source: Source): Promise<void> {
  const { file, opts } = f;
  const w = partial.writer!;
  const validator = partial.validatorFor(source.name);
  // a prefix whose origin no validator describes: pieces could not be checked against it
  if (partial.pos > 0 && validator === undefined) return;
  try {
    await w.flush();
    await partial.savePrefix(partial.pos);
    await partial.handle.truncate(file.size); // pieces then write inside the file, never extending it
  } catch (err) {
    if (err instanceof ModelmountError) throw err;
    throw diskFailure(err, `preparing ${f.label} in ${f.tmpDir} for pieces`);
  }
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
