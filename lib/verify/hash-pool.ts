/**
 * sha256 of whole files off the main thread, on a small pool of worker threads (one per core,
 * at most 4), for verify and the store. hasha ran every call on ONE shared worker, so
 * `verify --full` used one core however many files it hashed; here each file goes to the
 * least busy worker. Workers are created lazily and unref'd while idle (they never keep the
 * process alive); the worker is plain JavaScript (lib/verify/hash-worker.mjs).
 *
 * Downloads hash on the main thread as bytes arrive (lib/store/blob-writer.ts): handing
 * batches to a worker cost more than it saved on the 2-core machine we measured.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

interface Reply {
  rid: number;
  ok: boolean;
  code?: string;
  message?: string;
  sha256?: string;
  size?: number;
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
    return this.pending.size;
  }

  /** Send a request; `onSent` receives its id (for cancel). */
  send(msg: Request, onSent?: (rid: number) => void): Promise<Reply> {
    if (this.dead) return Promise.reject(new Error('hash worker is gone'));
    const rid = this.nextRid++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(rid, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ ...msg, rid });
      onSent?.(rid);
    });
  }

  cancel(rid: number): void {
    if (!this.dead) this.worker.postMessage({ type: 'cancel', target: rid });
  }
}

export class HashPool {
  private readonly workers: PoolWorker[] = [];
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
      const r = await worker.send({ type: 'hashFile', path: file }, (id) => (rid = id));
      if (!r.ok) throw replyError(r);
      return r.sha256 ?? '';
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

let shared: HashPool | undefined;

/** The process-wide pool. */
export function hashPool(): HashPool {
  shared ??= new HashPool();
  return shared;
}

