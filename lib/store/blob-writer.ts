/**
 * Hash-while-writing for fetches and copies. The main thread only receives: chunks are written
 * in batches of ~1 MiB with one writev at a time, in file order, on a libuv thread, and a hash
 * worker reads back what has been written (page cache) and hashes it meanwhile
 * (lib/verify/hash-pool.ts `follow`). The main thread never waits on the disk chunk by chunk,
 * and at most 4 MiB is queued before `push()` asks the caller to pause the source.
 *
 * Measured on the 2-core bench machine (2 GiB over loopback): hashing on the receiving thread
 * made it the bottleneck; copying batches into shared memory for a worker cost more CPU than
 * it saved (6–9 s against 4.6–5.2 s); reading back from the page cache is what remains.
 * One write at a time: concurrent positional writes that extend a file were 3–6× slower on
 * ext4 than sequential ones (2 GiB: 1.6–4 s with 8 in flight, 0.6 s with 1).
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { finished, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import { hashPool, type HashFollower } from '../verify/hash-pool.ts';
import type { ChunkSink, SinkWriter } from './blob-sink.ts';

/** bytes gathered before one writev */
export const WRITE_BATCH = 1024 * 1024;
/** bytes queued for writing (not yet on disk) before `push()` asks the caller to pause */
const MAX_QUEUED = 4 * WRITE_BATCH;
/**
 * Written bytes after which the file's dirty pages are flushed in the background (fdatasync, one at
 * a time), so the fsync before the blob gets its store name has at most this much left to write:
 * the kernel starts writeback only at 10 % of memory dirty, and a 1 GiB set over a slow link left
 * all of it to flush after the last byte (0.4 s here, issue 15 case 8).
 */
export const WRITEBACK_STEP = 64 * 1024 * 1024;

interface Recycled {
  chunk: Buffer;
  recycle: (chunk: Buffer) => void;
}

interface Batch {
  bufs: Buffer[];
  len: number;
  at: number;
  recycle: Recycled[] | undefined;
}

export class BlobWriter implements SinkWriter {
  /** bytes accepted so far, resumed prefix included: the file's length once everything is written */
  pos: number;
  private written: number;
  private batch: Buffer[] = [];
  private batchLen = 0;
  /** chunks of the batch to give back once written (pooled reads, lib/sources/pooled-read.ts) */
  private batchRecycle: Recycled[] | undefined;
  private readonly queue: Batch[] = [];
  private queued = 0;
  private writing = false;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];
  /** bytes [0, synced) were flushed by a background fdatasync */
  private synced = 0;
  private syncing: Promise<void> | undefined;

  private constructor(
    private readonly handle: FileHandle,
    private readonly hash: HashFollower,
    prefix: number,
    /** the open file's device and inode (from the fstat at open) */
    readonly file: { dev: number; ino: number },
    private readonly writebackStep: number,
  ) {
    this.pos = prefix;
    this.written = prefix;
  }

  /**
   * Start on the open file `handle`: its current bytes (a resumed partial) are hashed first,
   * never trusted blindly; a file longer than `limit` is truncated to 0. `pos` is its length.
   */
  static async open(handle: FileHandle, limit: number, opts: { writebackStep?: number } = {}): Promise<BlobWriter> {
    const st = await handle.stat();
    let length = st.size;
    if (length > limit) {
      await handle.truncate(0);
      length = 0;
    }
    return new BlobWriter(handle, hashPool().follow(handle.fd, length), length, { dev: st.dev, ino: st.ino }, opts.writebackStep ?? WRITEBACK_STEP);
  }

  /**
   * Hash `chunk` and queue it for writing. The writer keeps a reference until the bytes are
   * written: do not modify the chunk afterwards (stream chunks are never reused). Returns false
   * when enough is queued: pause the source until `ready()` resolves. Throws the first write error.
   */
  push(chunk: Buffer, recycle?: (chunk: Buffer) => void): boolean {
    if (this.failure) throw this.failure;
    this.batch.push(chunk);
    if (recycle) (this.batchRecycle ??= []).push({ chunk, recycle });
    this.batchLen += chunk.length;
    this.pos += chunk.length;
    if (this.batchLen >= WRITE_BATCH) this.queueBatch();
    return this.queued < MAX_QUEUED;
  }

  /** Resolves when more may be pushed; rejects with a write error. */
  async ready(): Promise<void> {
    while (!this.failure && this.queued >= MAX_QUEUED) await this.nextEvent();
    if (this.failure) throw this.failure;
  }

  /** Everything pushed is on its way to disk (written, not fsynced). Throws the first write error. */
  async flush(): Promise<void> {
    if (this.batchLen > 0 && !this.failure) this.queueBatch();
    while (this.writing) await this.nextEvent();
    if (this.failure) throw this.failure;
  }

  /** Truncate the file to 0 and start the hash over. */
  async reset(): Promise<void> {
    await this.flush();
    await this.syncing;
    this.synced = 0;
    await this.handle.truncate(0);
    this.hash.reset();
    this.pos = 0;
    this.written = 0;
  }

  /**
   * Bytes [pos, end) were written to the file by someone else (pieces fetched over several
   * connections, lib/store/fetch-ranges.ts): take them as written and let the hash follow.
   * Call only with nothing pushed and not flushed.
   */
  markWritten(end: number): void {
    if (end <= this.pos) return;
    this.pos = end;
    this.written = end;
    this.hash.advance(end);
    this.writeback();
  }

  /** Flush, then the sha256 (hex) of every byte in the file so far. The writer stays usable. */
  async digest(): Promise<string> {
    await this.flush();
    const d = await this.hash.digest();
    if (d.size !== this.pos) throw Object.assign(new Error(`hashed ${d.size} bytes of ${this.pos}`), { code: 'EIO' });
    return d.sha256;
  }

  /**
   * Everything pushed on disk for good: written, the background flush under way ended, fsynced.
   * Throws the first write or flush error — also one a background flush took from the descriptor
   * after the last write, which the final fsync would no longer report.
   */
  async sync(): Promise<void> {
    await this.flush();
    await this.syncing;
    if (this.failure) throw this.failure;
    await this.handle.sync();
  }

  /** Wait until no write is in flight; drop what is queued. Never throws. Call before closing the file. */
  async close(): Promise<void> {
    this.batch = [];
    this.batchLen = 0;
    this.batchRecycle = undefined;
    this.queue.length = 0;
    while (this.writing) await this.nextEvent();
    await this.syncing;
    await this.hash.close();
  }

  private queueBatch(): void {
    this.queue.push({ bufs: this.batch, len: this.batchLen, at: this.written, recycle: this.batchRecycle });
    this.written += this.batchLen;
    this.queued += this.batchLen;
    this.batch = [];
    this.batchLen = 0;
    this.batchRecycle = undefined;
    if (!this.writing) this.writeNext();
  }

  private writeNext(): void {
    const w = this.queue.shift();
    if (!w || this.failure) {
      this.writing = false;
      this.wake();
      return;
    }
    this.writing = true;
    const done = (err: Error | null) => {
      this.queued -= w.len;
      // the kernel is done with the buffers, whatever the outcome
      if (w.recycle) for (const r of w.recycle) r.recycle(r.chunk);
      if (err) this.failure ??= err;
      else {
        this.hash.advance(w.at + w.len);
        this.writeback();
      }
      this.wake();
      this.writeNext();
    };
    writeAllAt(this.handle.fd, w.bufs, w.len, w.at).then(() => done(null), done);
  }

  /**
   * Flush what is written in the background once WRITEBACK_STEP more bytes are. Its failure is the
   * writer's: Linux reports a writeback error to a descriptor once, so the final fsync on this
   * descriptor could succeed after it.
   */
  private writeback(): void {
    if (this.syncing || this.failure || this.written - this.synced < this.writebackStep) return;
    const upTo = this.written;
    this.syncing = this.handle.datasync().then(
      () => {
        this.synced = Math.max(this.synced, upTo);
        this.syncing = undefined;
      },
      (err: Error) => {
        this.failure ??= err;
        this.syncing = undefined;
        this.wake();
      },
    );
  }

  private nextEvent(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const writev = promisify(fs.writev);

/** Write the `len` bytes of `bufs` at `at` in `fd`, one writev at a time (a short write continues after what was written). */
export async function writeAllAt(fd: number, bufs: Buffer[], len: number, at: number): Promise<void> {
  let left = len;
  let pos = at;
  let rest = bufs;
  while (left > 0) {
    const { bytesWritten: n } = await writev(fd, rest, pos);
    if (n === 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    left -= n;
    pos += n;
    // partial write (rare on regular files): continue after the written bytes
    if (left > 0) rest = afterWritten(rest, n);
  }
}

/** What is left of `bufs` after the first `n` bytes were written (a partial writev). */
function afterWritten(bufs: Buffer[], n: number): Buffer[] {
  let skip = n;
  const rest: Buffer[] = [];
  for (const b of bufs) {
    if (skip >= b.length) skip -= b.length;
    else {
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return rest;
}

/**
 * Feed `stream` into `writer` until the stream ends, pausing it while the writer is busy.
 * `check(chunk)` runs before each chunk is taken and may throw to stop (too many bytes…);
 * `onChunk(chunk)` runs after; `recycle` goes to the writer with each chunk. Rejects with the
 * stream's error, check's error or a write error.
 * The writer is not flushed: `await writer.flush()` afterwards, also after a failure.
 */
export function pipeToWriter(
  stream: Readable,
  writer: ChunkSink,
  hooks: { check?: (chunk: Buffer) => void; onChunk?: (chunk: Buffer) => void; recycle?: (chunk: Buffer) => void } = {},
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const onData = (chunk: Buffer) => {
      if (settled) return;
      try {
        hooks.check?.(chunk);
        const more = writer.push(chunk, hooks.recycle);
        hooks.onChunk?.(chunk);
        if (!more) {
          stream.pause();
          writer.ready().then(
            () => {
              if (!settled) stream.resume();
            },
            (err: Error) => stream.destroy(err),
          );
        }
      } catch (err) {
        stream.destroy(err as Error);
      }
    };
    const cleanup = finished(stream, (err) => {
      settled = true;
      cleanup();
      stream.off('data', onData);
      if (err) reject(err);
      else resolve();
    });
    stream.on('data', onData);
  });
}
