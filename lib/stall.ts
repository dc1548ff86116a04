/**
 * Stall bounds for every wait on something outside the process: one set of settings (the HTTP
 * source's, which file sources and state-file reads share), a watchdog for byte streams and a
 * deadline for single operations. A file on a hung network mount blocks a libuv thread in the
 * kernel, where nothing can interrupt it: the run stops waiting for it (and says so), and the
 * operation is counted as stuck so the entry point knows the process cannot end normally.
 */
import { PassThrough, type Readable } from 'node:stream';

export interface StallBounds {
  /** No byte (or no answer) for this long, ms. */
  idleMs: number;
  /** Minimum throughput; below it for a whole window the transfer is abandoned. */
  stallBytesPerSec: number;
  /** Window for the throughput watchdog, ms. */
  stallWindowMs: number;
}

export const STALL_DEFAULTS: StallBounds = {
  idleMs: 30_000,
  stallBytesPerSec: 1024,
  stallWindowMs: 30_000,
};

export function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

let stuck = 0;

/** Operations that timed out and never returned (a hung mount): the process cannot exit normally while any is pending. */
export function stuckOperations(): number {
  return stuck;
}

/** Wait up to `ms` for the stuck operations to return (one given up on at Ctrl+C may just be slow): true when none is left. */
export async function stuckOperationsSettled(ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (stuck > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return stuck === 0;
}

/**
 * Wait for `work` at most `ms`, and not after `signal` aborts. On a timeout `onTimeout()` is
 * thrown; a result that arrives late goes to `onLate` (to close a handle nobody will use).
 */
export function withinDeadline<T>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  opts: { signal?: AbortSignal; onLate?: (value: T) => void } = {},
): Promise<T> {
  const { signal, onLate } = opts;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let abandoned = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const giveUp = (err: unknown) => {
      if (settled) return;
      abandoned = true;
      stuck++;
      finish(() => reject(err));
    };
    const onAbort = () => giveUp(signal!.reason);
    const timer = setTimeout(() => giveUp(onTimeout()), ms);
    if (signal?.aborted) return giveUp(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        if (abandoned) {
          stuck--;
          onLate?.(value);
        } else finish(() => resolve(value));
      },
      (err: unknown) => {
        if (abandoned) stuck--;
        else finish(() => reject(err));
      },
    );
  });
}

/**
 * `upstream`'s bytes, failing with `onStall(why)` when fewer than `stallBytesPerSec` arrive in a
 * whole `stallWindowMs` (or none for `idleMs`) while nothing waits in our own buffer (then the
 * consumer is the slow one). The failure reaches the consumer at once, even when `upstream` is
 * stuck in a read that never returns.
 */
export function boundStalls(upstream: Readable, bounds: StallBounds, onStall: (why: string) => Error): Readable {
  const out = new PassThrough({ highWaterMark: upstream.readableHighWaterMark });
  const minBytes = (bounds.stallBytesPerSec * bounds.stallWindowMs) / 1000;
  let windowBytes = 0;
  let last = Date.now();
  let consumerBound = false;
  const fail = (err: Error) => {
    clearInterval(timer);
    if (!out.destroyed) out.destroy(err);
    upstream.destroy();
  };
  const tick = Math.min(bounds.idleMs, bounds.stallWindowMs);
  let windowStart = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    if (out.readableLength > 0 || out.writableLength > 0 || consumerBound) {
      consumerBound = out.readableLength > 0 || out.writableLength > 0;
      windowBytes = 0;
      windowStart = now;
      last = now;
      return;
    }
    if (now - last >= bounds.idleMs) {
      fail(onStall(`no data for ${seconds(bounds.idleMs)}`));
      return;
    }
    if (now - windowStart >= bounds.stallWindowMs) {
      if (windowBytes < minBytes) {
        fail(onStall(`< ${bounds.stallBytesPerSec} B/s for ${seconds(bounds.stallWindowMs)}`));
        return;
      }
      windowBytes = 0;
      windowStart = now;
    }
  }, tick);
  timer.unref();
  upstream.on('data', (chunk: Buffer) => {
    windowBytes += chunk.length;
    last = Date.now();
    if (!out.write(chunk)) upstream.pause();
  });
  out.on('drain', () => upstream.resume());
  upstream.on('end', () => {
    clearInterval(timer);
    out.end();
  });
  upstream.on('error', (err) => fail(err));
  upstream.on('close', () => {
    if (!upstream.readableEnded) fail(onStall('closed early'));
  });
  out.on('close', () => {
    clearInterval(timer);
    if (!upstream.destroyed) upstream.destroy();
  });
  return out;
}
