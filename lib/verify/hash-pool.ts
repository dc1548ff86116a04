/**
 * sha256 of whole files off the main thread, on a small pool of worker threads (one per core,
 * at most 4), for verify and the store. hasha ran every call on ONE shared worker, so
 * `verify --full` used one core however many files it hashed; here each file goes to the
 * least busy worker. Workers are created lazily and unref'd while idle (they never keep the
 * process alive); the worker is plain JavaScript (lib/verify/hash-worker.mjs).
 *
 * Downloads are hashed by a worker too, reading back from the page cache what the main thread
 * has written (`follow`): handing the received batches to a worker instead cost more CPU than it
 * saved on the 2-core machine we measured (copies, wake-ups), reading back did not.
 *
 * From the first download on, the workers run at a lower priority (nice +10, Linux, per thread)
 * so the thread that receives wins the core; before it, and in a process that downloads nothing
 * (`verify --full`), they hash at the process's own priority (bench case 9).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { PoolWorker, replyError, type ReadProgress } from './hash-pool-worker.ts';

/** A follow job on a worker: it reads back what has been written and hashes it. */
class WorkerFollow {
  private gen = 0;
  private posted: number;
  private closed = false;

  constructor(
    private readonly worker: PoolWorker,
    private readonly job: number,
    private avail: number,
  ) {
    this.posted = avail;
  }

  /** Bytes [0, avail) are written. Tells the worker in steps of at least `FOLLOW_STEP`. */
  advance(avail: number): void {
    this.avail = avail;
    if (avail - this.posted >= FOLLOW_STEP) {
      this.posted = avail;
      this.worker.post({ type: 'followMore', job: this.job, avail, gen: this.gen });
    }
  }

  /** The file was truncated to 0: start over. */
  reset(): void {
    this.gen++;
    this.avail = 0;
    this.posted = 0;
    this.worker.post({ type: 'followMore', job: this.job, avail: 0, gen: this.gen });
  }

  /** sha256 (hex) of bytes [0, avail) once they are hashed. The follower stays usable. */
  async digest(): Promise<{ sha256: string; size: number }> {
    this.posted = this.avail;
    const r = await this.worker.send({ type: 'followDigest', job: this.job, avail: this.avail, gen: this.gen });
    if (!r.ok) throw replyError(r);
    return { sha256: r.sha256 ?? '', size: r.size ?? 0 };
  }

  /** Stop; after this the worker no longer reads the file. Never throws; safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.follows--;
    await this.worker.send({ type: 'followDrop', job: this.job }).catch(() => {});
  }
}

/** how far the written bytes must advance before the worker is told */
const FOLLOW_STEP = 4 * 1024 * 1024;

/**
 * sha256 of a file that is being written (a download): a worker reads back what has been written,
 * from the page cache, and hashes it while the main thread receives and writes the rest. Reading
 * back costs a memory copy but takes the hash (~1 s per 2 GiB) off the thread that receives.
 * The caller owns the file descriptor and must `await close()` before closing it.
 *
 * A file below the pool's `inlineBelow` never reaches a worker: digest() reads it back in one read
 * and hashes it here. A worker costs four messages per file (follow, digest and its reply, drop);
 * with thousands of small files those round trips, not hashing, were the main thread's work
 * (issue 15). The file is handed to a worker as soon as it reaches the limit.
 */
export class HashFollower {
  private onWorker?: WorkerFollow;
  private hash = createHash('sha256');
  /** bytes [0, hashed) are in `hash` (while not on a worker) */
  private hashed = 0;
  private gen = 0;

  constructor(
    private readonly pool: HashPool,
    private readonly fd: number,
    private avail: number,
    private readonly inlineBelow: number,
  ) {
    if (avail >= inlineBelow) this.onWorker = pool.followOnWorker(fd, avail);
  }

  /** Bytes [0, avail) are written. */
  advance(avail: number): void {
    this.avail = avail;
    if (this.onWorker) this.onWorker.advance(avail);
    else if (avail >= this.inlineBelow) this.onWorker = this.pool.followOnWorker(this.fd, avail);
  }

  /** The file was truncated to 0: start over. */
  reset(): void {
    this.avail = 0;
    if (this.onWorker) return this.onWorker.reset();
    this.gen++;
    this.hash = createHash('sha256');
    this.hashed = 0;
  }

  /** sha256 (hex) of bytes [0, avail) once they are hashed. The follower stays usable. */
  async digest(): Promise<{ sha256: string; size: number }> {
    if (this.onWorker) return this.onWorker.digest();
    const { gen, avail, hashed } = this;
    const buf = Buffer.allocUnsafe(avail - hashed);
    for (let got = 0; got < buf.length; ) {
      const n = await readAt(this.fd, buf, got, hashed + got);
      if (n === 0) throw Object.assign(new Error(`read nothing at byte ${hashed + got} of ${avail}`), { code: 'EIO' });
      got += n;
    }
    if (this.onWorker || gen !== this.gen || hashed !== this.hashed) return this.digest(); // reset or moved meanwhile
    this.hash.update(buf);
    this.hashed = avail;
    return { sha256: this.hash.copy().digest('hex'), size: avail };
  }

  /** Stop; after this nothing reads the file. Never throws; safe to call twice. */
  async close(): Promise<void> {
    await this.onWorker?.close();
  }
}

function readAt(fd: number, buf: Buffer, offset: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, offset, buf.length - offset, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/** below this size a followed file is hashed on the main thread (HashFollower); see bench/RESULTS.md, issue 15 */
export const INLINE_HASH_BELOW = 256 * 1024;

export class HashPool {
  private readonly workers: PoolWorker[] = [];
  private nextJob = 1;
  private readonly url = new URL('./hash-worker.mjs', import.meta.url);
  /** a download has been followed on a worker: every worker yields its core to the receiving thread */
  private yieldCores = false;

  /** `inlineBelow`: followed files smaller than this are hashed on the calling thread (HashFollower) */
  constructor(
    readonly size: number = Math.min(4, Math.max(1, availableParallelism())),
    private readonly inlineBelow = 0,
  ) {}

  /** each running worker's nice value, as the worker reads it for its own thread (tests) */
  async workerNices(): Promise<number[]> {
    const live = this.workers.filter((w) => !w.dead);
    return Promise.all(live.map(async (w) => (await w.send({ type: 'priority' })).nice ?? NaN));
  }

  /** how many workers are running (tests) */
  get workerCount(): number {
    return this.workers.filter((w) => !w.dead).length;
  }

  private pick(): PoolWorker {
    for (let i = this.workers.length - 1; i >= 0; i--) if (this.workers[i]!.dead) this.workers.splice(i, 1);
    const idle = this.workers.find((w) => w.load === 0);
    if (idle) return idle;
    if (this.workers.length < this.size) {
      const w = new PoolWorker(this.url, this.yieldCores);
      this.workers.push(w);
      return w;
    }
    return this.workers.reduce((a, b) => (b.load < a.load ? b : a));
  }

  /** sha256 (hex) of the file at `file` (not following a final symlink); `progress` hears how far it has read. */
  async hashFile(file: string, signal?: AbortSignal, progress?: ReadProgress): Promise<string> {
    signal?.throwIfAborted();
    const worker = this.pick();
    let rid: number | undefined;
    const onAbort = () => {
      if (rid !== undefined) worker.cancel(rid);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await worker.send({ type: 'hashFile', path: file, progressMs: progress?.everyMs }, (id) => (rid = id), progress?.onProgress);
      if (!r.ok) throw replyError(r);
      return r.sha256 ?? '';
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Hash the open file `fd` from byte 0 as it is written; `avail` bytes are there already (a resumed partial). */
  follow(fd: number, avail: number): HashFollower {
    return new HashFollower(this, fd, avail, this.inlineBelow);
  }

  /** @internal a follow job on a worker, for HashFollower */
  followOnWorker(fd: number, avail: number): WorkerFollow {
    if (!this.yieldCores) {
      this.yieldCores = true;
      for (const w of this.workers) w.post({ type: 'yieldCores' });
    }
    const worker = this.pick();
    const job = this.nextJob++;
    worker.follows++;
    worker.post({ type: 'follow', job, fd, avail });
    return new WorkerFollow(worker, job, avail);
  }
}

let shared: HashPool | undefined;

/** The process-wide pool. */
export function hashPool(): HashPool {
  shared ??= new HashPool(undefined, INLINE_HASH_BELOW);
  return shared;
}

