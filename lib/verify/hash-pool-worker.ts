/**
 * One thread of the hash pool (./hash-pool.ts) and its request/reply protocol with
 * ./hash-worker.mjs: requests carry an id, each answered request gets one reply, and a whole-file
 * hash may send progress before it (so a wait on a hung mount can tell "slow" from "stuck").
 */
import { Worker } from 'node:worker_threads';

/** Progress of a whole-file hash: `onProgress(bytes read so far)` at most every `everyMs` while it reads. */
export interface ReadProgress {
  everyMs: number;
  onProgress: (bytes: number) => void;
}

interface Reply {
  rid: number;
  ok: boolean;
  code?: string;
  message?: string;
  sha256?: string;
  size?: number;
  nice?: number;
  /** not the reply yet: the bytes read so far */
  progress?: number;
}

type Request = { type: string } & Record<string, unknown>;

export function replyError(r: Reply): Error {
  if (r.code === 'ABORT_ERR') return new DOMException(r.message ?? 'The operation was aborted', 'AbortError');
  return Object.assign(new Error(r.message ?? 'hashing failed'), { code: r.code ?? 'EIO' });
}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  onProgress?: (bytes: number) => void;
}

export class PoolWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextRid = 1;
  /** follow jobs living on this worker */
  follows = 0;
  dead = false;

  constructor(url: URL, yieldCores: boolean) {
    this.worker = new Worker(url, { workerData: { yieldCores } });
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.rid);
      if (!p) return;
      if (r.progress !== undefined) return p.onProgress?.(r.progress);
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
    return this.pending.size + this.follows;
  }

  /** Fire and forget (no reply expected). */
  post(msg: Request): void {
    if (!this.dead) this.worker.postMessage(msg);
  }

  /** Send a request; `onSent` receives its id (for cancel); `onProgress` its progress messages, if it sends any. */
  send(msg: Request, onSent?: (rid: number) => void, onProgress?: (bytes: number) => void): Promise<Reply> {
    if (this.dead) return Promise.reject(new Error('hash worker is gone'));
    const rid = this.nextRid++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(rid, { resolve, reject, onProgress });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ ...msg, rid });
      onSent?.(rid);
    });
  }

  cancel(rid: number): void {
    if (!this.dead) this.worker.postMessage({ type: 'cancel', target: rid });
  }
}
