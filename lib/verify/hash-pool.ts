/**
 * sha256 off the main thread, on a small pool of worker threads (one per core, at most 4):
 *
 * - `hashFile(path)`: a whole file, for verify and the store. (hasha ran every call on ONE
 *   shared worker, so `verify --full` used one core however many files it hashed.)
 * - `openWriter(fd)`: hash-and-write for downloads and copies. The main thread only receives
 *   bytes and copies them into 1 MiB batches; a worker hashes each batch and writes it at its
 *   offset. Receiving, hashing and writing overlap, and the main thread never waits for the
 *   disk chunk by chunk. At most 8 batches per writer are in flight (bounded memory);
 *   `push()` says when to pause the source.
 *
 * Workers are created lazily, are unref'd while idle (they never keep the process alive) and
 * the worker file is plain JavaScript (lib/verify/hash-worker.mjs).
 */
import { availableParallelism } from 'node:os';
import { finished, type Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';

/** bytes per batch handed to a worker */
export const WRITE_BATCH = 1024 * 1024;
/** batches a writer may have in flight before `push()` asks the caller to pause */
const MAX_BATCHES = 8;

interface Reply {
  rid: number;
  ok: boolean;
  code?: string;
  message?: string;
  sha256?: string;
  size?: number;
  pos?: number;
  buf?: ArrayBuffer;
}

type Request = { type: string } & Record<string, unknown>;

function replyError(r: Reply): Error {
  if (r.code === 'ABORT_ERR') return new DOMException(r.message ?? 'The operation was aborted', 'AbortError');
  return Object.assign(new Error(r.message ?? 'hashing failed'), { code: r.code ?? 'EIO' });
}

class PoolWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextRid = 1;
  /** writer jobs living on this worker */
  jobs = 0;
  dead = false;

  constructor(url: URL) {
    this.worker = new Worker(url);
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.rid);
      if (!p) return;
      this.pending.delete(r.rid);
      if (this.pending.size === 0) this.worker.unref();
      p.resolve(r);
    });
    const die = (err: Error) => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`hash worker exited (${code})`)));
  }

  get load(): number {
    return this.pending.size + this.jobs * 4;
  }

  /** Send a request; `onSent` receives its id (for cancel). */
  send(msg: Request, transfer: ArrayBuffer[] = [], onSent?: (rid: number) => void): Promise<Reply> {
    if (this.dead) return Promise.reject(new Error('hash worker is gone'));
    const rid = this.nextRid++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(rid, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ ...msg, rid }, transfer);
      onSent?.(rid);
    });
  }

  cancel(rid: number): void {
    if (!this.dead) this.worker.postMessage({ type: 'cancel', target: rid });
  }
}

/**
 * One download's hash-and-write stream into an open file. The file descriptor stays owned by
 * the caller, who must `await close()` before closing it: until then a worker may still write to it.
 */
export class HashWriter {
  /** bytes accepted so far, resumed prefix included: the file's length once everything is written */
  pos: number;
  private sent: number;
  private batch: Buffer | undefined;
  private batchLen = 0;
  private readonly spare: ArrayBuffer[] = [];
  private inflight = 0;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];
  private ended = false;

  constructor(
    private readonly worker: PoolWorker,
    private readonly job: number,
    prefix: number,
  ) {
    this.pos = prefix;
    this.sent = prefix;
  }

  /**
   * Take `chunk` (copied; the caller may reuse it). Returns false when enough is in flight:
   * pause the source until `ready()` resolves. Throws the first write error (ENOSPC…).
   */
  push(chunk: Buffer): boolean {
    if (this.failure) throw this.failure;
    let off = 0;
    while (off < chunk.length) {
      this.batch ??= Buffer.from(this.spare.pop() ?? new ArrayBuffer(WRITE_BATCH));
      const n = chunk.copy(this.batch, this.batchLen, off);
      this.batchLen += n;
      off += n;
      if (this.batchLen === this.batch.length) this.sendBatch();
    }
    this.pos += chunk.length;
    return this.inflight < MAX_BATCHES;
  }

  /** Resolves when more may be pushed; rejects with a write error. */
  async ready(): Promise<void> {
    while (!this.failure && this.inflight >= MAX_BATCHES) await this.nextEvent();
    if (this.failure) throw this.failure;
  }

  /** Everything pushed is written and hashed. Throws the first write error. */
  async flush(): Promise<void> {
    if (this.batchLen > 0 && !this.failure) this.sendBatch();
    while (this.inflight > 0) await this.nextEvent();
    if (this.failure) throw this.failure;
  }

  /** Truncate the file to 0 and start the hash over. */
  async reset(): Promise<void> {
    await this.flush();
    const r = await this.worker.send({ type: 'reset', job: this.job });
    if (!r.ok) throw replyError(r);
    this.pos = 0;
    this.sent = 0;
  }

  /** Flush, then the sha256 (hex) of every byte in the file so far. The writer stays usable. */
  async digest(): Promise<{ sha256: string; size: number }> {
    await this.flush();
    const r = await this.worker.send({ type: 'digest', job: this.job });
    if (!r.ok) throw replyError(r);
    return { sha256: r.sha256 ?? '', size: r.size ?? 0 };
  }

  /** Wait until no write is in flight and end the job. Never throws; safe to call twice. */
  async close(): Promise<void> {
    while (this.inflight > 0) await this.nextEvent();
    if (this.ended) return;
    this.ended = true;
    this.worker.jobs--;
    await this.worker.send({ type: 'drop', job: this.job }).catch(() => {});
  }

  private sendBatch(): void {
    const batch = this.batch!;
    const len = this.batchLen;
    const at = this.sent;
    this.batch = undefined;
    this.batchLen = 0;
    this.sent += len;
    this.inflight++;
    const buf = batch.buffer as ArrayBuffer;
    this.worker.send({ type: 'write', job: this.job, buf, len, pos: at }, [buf]).then(
      (r) => {
        this.inflight--;
        if (r.buf && this.spare.length < MAX_BATCHES) this.spare.push(r.buf);
        if (!r.ok) this.failure ??= replyError(r);
        this.wake();
      },
      (err: Error) => {
        this.inflight--;
        this.failure ??= err;
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

export class HashPool {
  private readonly workers: PoolWorker[] = [];
  private nextJob = 1;
  private readonly url = new URL('./hash-worker.mjs', import.meta.url);

  constructor(readonly size: number = Math.min(4, Math.max(1, availableParallelism()))) {}

  private pick(): PoolWorker {
    for (let i = this.workers.length - 1; i >= 0; i--) if (this.workers[i]!.dead) this.workers.splice(i, 1);
    const idle = this.workers.find((w) => w.load === 0);
    if (idle) return idle;
    if (this.workers.length < this.size) {
      const w = new PoolWorker(this.url);
      this.workers.push(w);
      return w;
    }
    return this.workers.reduce((a, b) => (b.load < a.load ? b : a));
  }

  /** sha256 (hex) of the file at `file` (not following a final symlink). */
  async hashFile(file: string, signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const worker = this.pick();
    let rid: number | undefined;
    const onAbort = () => {
      if (rid !== undefined) worker.cancel(rid);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await worker.send({ type: 'hashFile', path: file }, [], (id) => (rid = id));
      if (!r.ok) throw replyError(r);
      return r.sha256 ?? '';
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Start hash-and-write on the open file `fd`. Its current bytes (a resumed partial) are hashed
   * first, in the worker; a file longer than `limit` is truncated to 0. `writer.pos` is its length.
   */
  async openWriter(fd: number, limit: number): Promise<HashWriter> {
    const worker = this.pick();
    const job = this.nextJob++;
    worker.jobs++;
    let r: Reply;
    try {
      r = await worker.send({ type: 'open', job, fd, limit });
    } catch (err) {
      worker.jobs--;
      throw err;
    }
    if (!r.ok) {
      worker.jobs--;
      throw replyError(r);
    }
    return new HashWriter(worker, job, r.pos ?? 0);
  }
}

let shared: HashPool | undefined;

/** The process-wide pool. */
export function hashPool(): HashPool {
  shared ??= new HashPool();
  return shared;
}

/**
 * Feed `stream` into `writer` until the stream ends, pausing it while the writer is busy.
 * `check(chunk)` runs before each chunk is taken and may throw to stop (too many bytes…);
 * `onChunk(chunk)` runs after. Rejects with the stream's error, check's error or a write error.
 * The writer is not flushed: `await writer.flush()` afterwards, also after a failure.
 */
export function pipeToWriter(
  stream: Readable,
  writer: HashWriter,
  hooks: { check?: (chunk: Buffer) => void; onChunk?: (chunk: Buffer) => void } = {},
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const onData = (chunk: Buffer) => {
      if (settled) return;
      try {
        hooks.check?.(chunk);
        const more = writer.push(chunk);
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
