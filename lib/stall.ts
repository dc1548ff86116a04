/**
 * Stall bounds for every wait on something outside the process: one set of settings (the HTTP
 * source's, which every source and state-file reads share), the one idle/throughput watchdog for
 * byte streams and a deadline for single operations. A file on a hung network mount blocks a
 * libuv thread in the kernel, where nothing can interrupt it: the run stops waiting for it (and
 * says so), and the operation is counted as stuck so the entry point knows the process cannot
 * end normally.
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

/** A source's stall bounds from its `timeouts` option (which may hold other timeouts too): the defaults where unset. */
export function stallBounds(timeouts: Partial<StallBounds> = {}): StallBounds {
  return {
    idleMs: timeouts.idleMs ?? STALL_DEFAULTS.idleMs,
    stallBytesPerSec: timeouts.stallBytesPerSec ?? STALL_DEFAULTS.stallBytesPerSec,
    stallWindowMs: timeouts.stallWindowMs ?? STALL_DEFAULTS.stallWindowMs,
  };
}

export function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

let stuck = 0;
/** stuckOperationsSettled's waiters, called when the count reaches 0 */
const settledWaiters = new Set<() => void>();

/** One stuck operation returned. */
function unstuck(): void {
  stuck--;
  if (stuck === 0) for (const wake of [...settledWaiters]) wake();
}

/**
 * Operations the run does not wait for that have not returned yet: ones given up on after a
 * timeout or an abort (a hung mount), and best-effort ones left running (leaveRunning). The process
 * cannot exit normally while any is pending.
 */
export function stuckOperations(): number {
  return stuck;
}

/**
 * Do not wait for `work` (a best-effort touch): it runs on while the caller goes on.
 * Its failure is ignored (never an unhandled rejection), and it counts as stuck until it returns,
 * so the entry point knows whether the process can end normally (one blocked in the kernel keeps
 * it alive).
 */
export function leaveRunning(work: Promise<unknown>): void {
  stuck++;
  work.then(unstuck, unstuck);
}

/**
 * Wait up to `ms` for the stuck operations to return (one given up on at Ctrl+C may just be slow):
 * true when none is left. It ends as soon as the last one returns.
 */
export function stuckOperationsSettled(ms: number): Promise<boolean> {
  if (stuck === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      settledWaiters.delete(wake);
      resolve(stuck === 0);
    };
    const timer = setTimeout(wake, ms);
    settledWaiters.add(wake);
  });
}

/**
 * Wait for `work` at most `ms`, and not after `signal` aborts. On a timeout `onTimeout()` is
 * thrown; a result that arrives late goes to `onLate` (to close a handle nobody will use). An
 * idleDeadline of its own for one wait: with nothing else to make progress, that is a plain timeout.
 */
export function withinDeadline<T>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  opts: { signal?: AbortSignal; onLate?: (value: T) => void } = {},
): Promise<T> {
  return idleDeadline(ms, onTimeout, { signal: opts.signal }).bound(work, opts.onLate);
}

/** One idle deadline shared by many waits (idleDeadline). */
export interface IdleDeadline {
  /** the idle bound, ms (a worker reports progress a few times within it) */
  readonly ms: number;
  /** Wait for `work`, under the shared deadline; a result that arrives after it gave up goes to `onLate`. */
  bound<T>(work: Promise<T>, onLate?: (value: T) => void): Promise<T>;
  /** Something moved (a worker's progress message): the deadline starts again. */
  progress(): void;
}

/** How often a worker waited on under `deadline` reports progress: a few times within its bound, at most every 250 ms. */
export function progressInterval(deadline: Pick<IdleDeadline, 'ms'>): number {
  return Math.min(250, deadline.ms / 4);
}

/**
 * One deadline for many operations together (a folder's lstats, a worker's answer, hashes) that follows
 * progress: while any bound wait is pending and nothing moved for `ms` (no wait settled, no
 * `progress()`), every pending and later wait fails with `onTimeout()`; an abort of `signal` ends
 * them with its reason. A slow but moving run never hits it. A wait given up on counts as stuck until
 * its operation returns. One timer, not one per operation.
 */
export function idleDeadline(ms: number, onTimeout: () => Error, opts: { signal?: AbortSignal } = {}): IdleDeadline {
  const { signal } = opts;
  const waiting = new Set<(err: unknown) => void>();
  let last = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let confirming: NodeJS.Immediate | undefined;
  let failure: { err: unknown } | undefined;
  const idle = () => {
    clearTimeout(timer);
    clearImmediate(confirming);
    timer = confirming = undefined;
    signal?.removeEventListener('abort', onAbort);
  };
  const failAll = (err: unknown) => {
    failure ??= { err };
    idle();
    for (const giveUp of [...waiting]) giveUp(failure.err);
  };
  const onAbort = () => failAll(signal!.reason);
  const check = (confirmed = false) => {
    const left = last + ms - Date.now();
    if (left > 0) timer = setTimeout(check, left);
    else if (confirmed) failAll(onTimeout());
    // an event loop held up for `ms` runs its timers before the progress messages and answers
    // that arrived meanwhile: look once more after them
    else confirming = setImmediate(() => check(true));
  };
  return {
    ms,
    progress() {
      last = Date.now();
    },
    bound<T>(work: Promise<T>, onLate?: (value: T) => void): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        let abandoned = false;
        const giveUp = (err: unknown) => {
          abandoned = true;
          stuck++;
          waiting.delete(giveUp);
          reject(err);
        };
        const done = (fn: () => void) => {
          waiting.delete(giveUp);
          last = Date.now();
          if (waiting.size === 0) idle();
          fn();
        };
        if (failure || signal?.aborted) giveUp(failure ? failure.err : signal!.reason);
        else {
          if (waiting.size === 0) {
            last = Date.now();
            timer = setTimeout(check, ms);
            signal?.addEventListener('abort', onAbort, { once: true });
          }
          waiting.add(giveUp);
        }
        work.then(
          (value) => {
            if (!abandoned) return done(() => resolve(value));
            unstuck();
            onLate?.(value);
          },
          (err: unknown) => {
            if (abandoned) unstuck();
            else done(() => reject(err));
          },
        );
      });
    },
  };
}

/**
 * The one idle and minimum-throughput watchdog (every source's byte stream: http, s3, oci, file).
 * Call `bytes(n)` as bytes arrive; `onStall(why)` is called once when none arrived for `idleMs`,
 * or fewer than `stallBytesPerSec` in a whole `stallWindowMs`. A window in which `buffer` (the
 * stream the consumer reads) still held unread data is not counted: then the consumer is the slow one.
 */
export function watchStalls(
  buffer: { readonly readableLength: number; readonly writableLength: number },
  bounds: StallBounds,
  onStall: (why: string) => void,
): { bytes(n: number): void; stop(): void } {
  const minBytes = (bounds.stallBytesPerSec * bounds.stallWindowMs) / 1000;
  const buffered = () => buffer.readableLength > 0 || buffer.writableLength > 0;
  let windowBytes = 0;
  let windowStart = Date.now();
  let last = windowStart;
  let consumerBound = false;
  const stall = (why: string) => {
    clearInterval(timer);
    onStall(why);
  };
  const timer = setInterval(() => {
    const now = Date.now();
    if (buffered() || consumerBound) {
      // Data is waiting for the consumer (or was, during this window): not a stall upstream.
      consumerBound = buffered();
      windowBytes = 0;
      windowStart = now;
      last = now;
      return;
    }
    if (now - last >= bounds.idleMs) return stall(idleStall(bounds));
    if (now - windowStart >= bounds.stallWindowMs) {
      if (windowBytes < minBytes) return stall(`< ${formatRate(bounds.stallBytesPerSec)} for ${seconds(bounds.stallWindowMs)}`);
      windowBytes = 0;
      windowStart = now;
    }
  }, Math.max(50, Math.min(bounds.idleMs, bounds.stallWindowMs)));
  timer.unref();
  return {
    bytes(n) {
      windowBytes += n;
      last = Date.now();
    },
    stop: () => clearInterval(timer),
  };
}

/** The watchdog's words for "no byte for `idleMs`" (a transport's own idle timeout says the same). */
export function idleStall(bounds: Pick<StallBounds, 'idleMs'>): string {
  return `no data for ${seconds(bounds.idleMs)}`;
}

function formatRate(bytesPerSec: number): string {
  if (bytesPerSec >= 1024 * 1024) return `${(bytesPerSec / (1024 * 1024)).toFixed(1)} MiB/s`;
  if (bytesPerSec >= 1024) return `${Math.round(bytesPerSec / 1024)} KiB/s`;
  return `${bytesPerSec} B/s`;
}

/**
 * `upstream`'s bytes under the stall watchdog, failing with `onStall(why)`. The failure reaches
 * the consumer at once, even when `upstream` is stuck in a read that never returns (a hung mount).
 */
export function boundStalls(upstream: Readable, bounds: StallBounds, onStall: (why: string) => Error): Readable {
  const out = new PassThrough({ highWaterMark: upstream.readableHighWaterMark });
  const fail = (err: Error) => {
    watchdog.stop();
    if (!out.destroyed) out.destroy(err);
    upstream.destroy();
  };
  const watchdog = watchStalls(out, bounds, (why) => fail(onStall(why)));
  upstream.on('data', (chunk: Buffer) => {
    watchdog.bytes(chunk.length);
    if (!out.write(chunk)) upstream.pause();
  });
  out.on('drain', () => upstream.resume());
  upstream.on('end', () => {
    watchdog.stop();
    out.end();
  });
  upstream.on('error', (err) => fail(err));
  upstream.on('close', () => {
    if (!upstream.readableEnded) fail(onStall('closed early'));
  });
  out.on('close', () => {
    watchdog.stop();
    if (!upstream.destroyed) upstream.destroy();
  });
  return out;
}
