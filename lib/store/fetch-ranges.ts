/**
 * One large file over several ranged connections (as aria2c -x8 -s8 and Ollama do): on a link
 * with tens of milliseconds of latency one TCP connection does not fill the pipe. The rest of
 * the file (after the valid prefix) is cut into pieces handed out in file order; each connection
 * writes its piece at its offset with positional writes, and the sha256 is still computed once,
 * in order: the hash worker follows the contiguous prefix of written bytes (BlobWriter.markWritten).
 *
 * Only for a source whose open() honours `end` (HTTP 206 with the matching Content-Range).
 * The first piece is asked alone: a server that ignores Range (200, or a 206 for the whole file)
 * ends the pass before any other connection is opened, and fetchBlob goes on with one connection.
 * Extra connections take a slot from `acquire` (the --jobs bound, shared with other files) and
 * only while one is free. Any failure a piece cannot recover from ends the pass: fetchBlob keeps
 * the contiguous prefix and continues from it with one connection (and then other sources).
 *
 * Resume after a kill: bytes past the contiguous prefix may have been written out of order; the
 * caller records the prefix in `<partial>.prefix` (savePrefix, never ahead of what is written)
 * and a later run cuts the partial back to it. Out-of-order pieces are discarded, at most about
 * one piece per connection: simpler and safer than trusting a map of holes in a sparse file.
 */
import type { FileHandle } from 'node:fs/promises';
import { systemClock, type Clock } from '../clock.ts';
import { ModelmountError, SourceError } from '../errors.ts';
import type { Source } from '../sources/types.ts';
import { WRITE_BATCH, writeAllAt, type BlobWriter } from './blob-writer.ts';
import { ReopenBudget, type ReopenOptions } from './reopen-budget.ts';

/** files at least this large are fetched over several connections when the source allows */
export const RANGED_MIN_SIZE = 64 * 1024 * 1024;
/** connections for one file at most (aria2c's -x8 default for this case) */
export const RANGED_MAX_CONNECTIONS = 8;
const MIN_PIECE = 4 * 1024 * 1024;
const MAX_PIECE = 64 * 1024 * 1024;
/** how far the prefix advances between two updates of the `.prefix` record */
const SAVE_STEP = 16 * 1024 * 1024;

export interface FetchRangesOptions extends ReopenOptions {
  handle: FileHandle;
  /** its `pos` is the valid prefix; it is advanced as the prefix grows */
  writer: BlobWriter;
  source: Source;
  artifactId: string;
  path: string;
  size: number;
  sha256: string;
  /** validator of the response the prefix came from (sent as If-Range), if any */
  validator?: string;
  signal?: AbortSignal;
  /** bytes per piece (default: the rest / (connections × 4), 4–64 MiB) */
  pieceSize?: number;
  maxConnections?: number;
  /** a slot for one more connection, or undefined when none is free; call the result to give it back */
  acquire: () => (() => void) | undefined;
  /** record that bytes [0, n) of the partial are valid (called in increasing order, one at a time) */
  savePrefix: (n: number) => Promise<void>;
  onBytes?: (n: number) => void;
  /** the first validator the source answered with (the prefix had none) */
  onValidator?: (v: string) => Promise<void>;
  /** waits before reopening a piece (default: real time) */
  clock?: Clock;
}

export interface FetchRangesResult {
  /** every byte is written (writer.pos === size) */
  complete: boolean;
  /** the validator every piece came with, if the source gave one */
  validator?: string;
  transferred: number;
  /** connections used at most at once */
  connections: number;
  /** why the pass ended early, for the record */
  reason?: string;
}

interface Piece {
  start: number;
  end: number;
  /** bytes of the piece written to the file */
  written: number;
  taken: boolean;
}

class EndPass extends Error {}

export async function fetchRanges(o: FetchRangesOptions): Promise<FetchRangesResult> {
  const { writer, size } = o;
  const maxConnections = Math.max(1, o.maxConnections ?? RANGED_MAX_CONNECTIONS);
  const first = writer.pos;
  const rest = size - first;
  const pieceSize = o.pieceSize ?? Math.min(MAX_PIECE, Math.max(MIN_PIECE, Math.ceil(rest / (maxConnections * 4))));
  const pieces: Piece[] = [];
  for (let at = first; at < size; at += pieceSize) pieces.push({ start: at, end: Math.min(size, at + pieceSize), written: 0, taken: false });

  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  let validator = o.validator;
  let transferred = 0;
  let reason: string | undefined;
  let fatal: unknown;
  let head = 0; // first piece not completely written
  let saved = first;
  let saving: Promise<void> | undefined;
  let active = 0;
  let peak = 0;
  const running: Promise<void>[] = [];

  const end = (why: string, err?: unknown): void => {
    reason ??= why;
    if (err !== undefined) fatal ??= err;
    stop.abort(new EndPass(why));
  };

  /** Advance the contiguous prefix after piece writes; the hash follows it, the record lags behind it. */
  const advance = (): void => {
    while (head < pieces.length && pieces[head]!.written === pieces[head]!.end - pieces[head]!.start) head++;
    const prefix = head < pieces.length ? pieces[head]!.start + pieces[head]!.written : size;
    writer.markWritten(prefix);
    if (!saving && prefix - saved >= Math.min(SAVE_STEP, pieceSize) && prefix < size) {
      const at = prefix;
      saving = o.savePrefix(at).then(
        () => {
          saved = at;
          saving = undefined;
        },
        (err: unknown) => {
          saving = undefined;
          end('the prefix could not be recorded', err);
        },
      );
    }
  };

  /** One request for what is left of `piece`, written at its offset as it arrives; throws how it failed. */
  const readPiece = async (piece: Piece, onHeaders: () => void): Promise<void> => {
    const offset = piece.start + piece.written;
    const opened = await o.source.open({ artifactId: o.artifactId, path: o.path, offset, end: piece.end, expectedSize: size, expectedSha256: o.sha256, validator, signal });
    opened.stream.on('error', () => {});
    if (opened.start !== offset || opened.end !== piece.end) {
      opened.stream.destroy();
      end(`the source answered bytes ${opened.start}-${(opened.end ?? size) - 1} to a request for ${offset}-${piece.end - 1}`);
      signal.throwIfAborted();
    }
    if (validator === undefined) {
      validator = opened.validator;
      // kept with the partial now: a resume after a kill sends it as If-Range
      if (validator !== undefined) await o.onValidator?.(validator);
    } else if (opened.validator !== validator) {
      opened.stream.destroy();
      end('the file changed on the source (another validator)');
      signal.throwIfAborted();
    }
    onHeaders();
    let batch: Buffer[] = [];
    let batchLen = 0;
    const flush = async (): Promise<void> => {
      if (batchLen === 0) return;
      const bufs = batch;
      const len = batchLen;
      batch = [];
      batchLen = 0;
      await writeAllAt(o.handle.fd, bufs, len, piece.start + piece.written);
      piece.written += len;
      transferred += len;
      o.onBytes?.(len);
      advance();
    };
    try {
      for await (const chunk of opened.stream as AsyncIterable<Buffer>) {
        if (piece.written + batchLen + chunk.length > piece.end - piece.start) {
          throw new SourceError('ESIZE', `sent more than bytes ${piece.start}-${piece.end - 1}`, { retryable: false });
        }
        batch.push(chunk);
        batchLen += chunk.length;
        if (batchLen >= WRITE_BATCH) await flush();
      }
    } finally {
      // what arrived before a failure is kept
      await flush();
    }
    if (piece.written < piece.end - piece.start) throw new SourceError('ESHORT', `connection ended after ${piece.start + piece.written} of bytes ${piece.start}-${piece.end - 1}`);
  };

  /** Fetch what is left of `piece` until it is complete; throws what ends the pass. */
  const runPiece = async (piece: Piece, onHeaders: () => void): Promise<void> => {
    const reopens = new ReopenBudget(o);
    for (;;) {
      signal.throwIfAborted();
      const before = piece.written;
      try {
        return await readPiece(piece, onHeaders);
      } catch (err) {
        if (signal.aborted) throw signal.reason ?? err;
        if (isLocal(err)) throw err;
        const wait = reopens.afterFailure(err, piece.written - before, piece.end - piece.start - before);
        if (wait === undefined) {
          end(`bytes ${piece.start}-${piece.end - 1} failed: ${err instanceof Error ? err.message : String(err)}`);
          throw err;
        }
        await (o.clock ?? systemClock).sleep(wait, signal);
      }
    }
  };

  /** One connection: take pieces in file order until none is left. */
  const connection = async (release: (() => void) | undefined, firstHeaders?: () => void): Promise<void> => {
    active++;
    peak = Math.max(peak, active);
    try {
      for (;;) {
        const piece = pieces.find((p) => !p.taken);
        if (!piece || signal.aborted) return;
        piece.taken = true;
        await runPiece(piece, () => {
          firstHeaders?.();
          firstHeaders = undefined;
        });
        grow();
      }
    } catch (err) {
      if (o.signal?.aborted) end('interrupted', o.signal.reason ?? err);
      else if (err instanceof EndPass) end('stopped');
      else if (isLocal(err)) end('a local failure', err);
      else end(`failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      active--;
      release?.();
    }
  };

  /** Open more connections while pieces wait and slots are free. */
  const grow = (): void => {
    while (!signal.aborted && active < maxConnections && pieces.some((p) => !p.taken)) {
      const release = o.acquire();
      if (!release) return;
      running.push(connection(release));
    }
  };

  // The first piece alone: only once its headers show the range is honoured do others start.
  running.push(connection(undefined, grow));
  for (let i = 0; i < running.length; i++) await running[i];
  await saving;
  if (fatal !== undefined) throw fatal;
  const complete = writer.pos === size && !o.signal?.aborted;
  return { complete, validator, transferred, connections: peak, ...(complete ? {} : { reason: reason ?? 'stopped' }) };
}

/** A local failure (disk, the caller's abort) ends the whole fetch, not just this pass. */
function isLocal(err: unknown): boolean {
  if (err instanceof SourceError) return false;
  if (err instanceof ModelmountError) return true;
  const e = err as NodeJS.ErrnoException;
  return e?.syscall === 'write' || e?.syscall === 'writev' || (e?.message === 'short write' && e.code === 'EIO');
}
