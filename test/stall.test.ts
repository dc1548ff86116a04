/**
 * Stall bounds (lib/stall.ts) on real blocking operations: a read from a FIFO with a writer that
 * sends nothing blocks a libuv thread in the kernel, like a file on a hung NFS mount. The
 * consumer gets the stall error anyway, and the stuck operation is counted until it returns.
 */
import { spawnSync } from 'node:child_process';
import { MessageChannel } from 'node:worker_threads';
import { constants as fsc, createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { boundStalls, idleDeadline, leaveRunning, STALL_DEFAULTS, stuckOperations, stuckOperationsSettled, withinDeadline } from '../lib/stall.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { HTTP_DEFAULTS } from '../lib/sources/http/options.ts';
import { tempDir } from './helpers/cli.ts';

async function fifoWithSilentWriter(): Promise<{ fifo: string; release: () => Promise<void> }> {
  const dir = await tempDir();
  const fifo = path.join(dir, 'pipe');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  // a writer that never writes (O_RDWR on a FIFO opens at once and counts as a writer)
  const writer = await fs.open(fifo, fsc.O_RDWR);
  return {
    fifo,
    release: async () => {
      await writer.write(Buffer.from('x'));
      await writer.close();
    },
  };
}

/**
 * An open of a new FIFO for reading, blocked in the kernel until `unblock()` opens a writer
 * (O_RDWR, which never blocks itself). Call `release()` in a `finally`: a failed assertion must
 * not leave the open blocking a thread (the test file would hang).
 */
async function blockedFifoOpen(): Promise<{ dir: string; opening: Promise<fs.FileHandle>; unblock: () => Promise<fs.FileHandle>; release: () => Promise<void> }> {
  const dir = await tempDir();
  const fifo = path.join(dir, 'pipe');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  const opening = fs.open(fifo, fsc.O_RDONLY); // blocks until a writer opens it
  let writer: Promise<fs.FileHandle> | undefined;
  const unblock = () => (writer ??= fs.open(fifo, fsc.O_RDWR));
  return {
    dir,
    opening,
    unblock,
    release: async () => {
      await (await unblock()).close();
      await (await opening).close().catch(() => undefined); // closed already by the test, or not
    },
  };
}

describe('idleDeadline with a held-up event loop', () => {
  it('progress that arrived while the loop was held up for longer than the bound counts: timers run before messages, the deadline looks once more after them', async () => {
    const deadline = idleDeadline(100, () => new Error('stalled'));
    const { port1, port2 } = new MessageChannel();
    port2.on('message', () => deadline.progress());
    try {
      const work = deadline.bound(delay(250));
      port1.postMessage('moved'); // a worker's progress, delivered only once the loop turns
      const until = Date.now() + 150;
      while (Date.now() < until); // the main thread busy past the bound
      await expect(work).resolves.toBeUndefined();
    } finally {
      port2.close();
    }
  });
});

describe('stall bounds', () => {
  it('file sources and state files share the HTTP source\'s settings', () => {
    expect(HTTP_DEFAULTS).toMatchObject(STALL_DEFAULTS);
  });

  it('boundStalls: a read stuck in the kernel fails the consumer with the stall error', async () => {
    const { fifo, release } = await fifoWithSilentWriter();
    try {
      const raw = createReadStream(fifo);
      const out = boundStalls(raw, { idleMs: 200, stallBytesPerSec: 1, stallWindowMs: 200 }, (why) => Object.assign(new Error(`stalled: ${why}`), { code: 'ESTALLED' }));
      const sink = new Writable({ write: (_c, _e, cb) => cb() });
      const err = await pipeline(out, sink).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ESTALLED', message: 'stalled: no data for 0.2 s' });
    } finally {
      await release();
    }
  });

  it('boundStalls passes every byte through and ends when the source ends', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'f');
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    await fs.writeFile(file, data);
    const chunks: Buffer[] = [];
    await pipeline(
      boundStalls(createReadStream(file), STALL_DEFAULTS, () => new Error('stall')),
      new Writable({
        write: (c: Buffer, _e, cb) => {
          chunks.push(c);
          cb();
        },
      }),
    );
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('withinDeadline: an open that blocks (FIFO without O_NONBLOCK) times out, counts as stuck, and a late handle is closed', async () => {
    const { opening, unblock, release } = await blockedFifoOpen();
    try {
      const before = stuckOperations();
      let late: fs.FileHandle | undefined;
      const err = await withinDeadline(opening, 100, () => new Error('timed out'), { onLate: (h) => (late = h) }).catch((e: unknown) => e);
      expect(err).toMatchObject({ message: 'timed out' });
      expect(stuckOperations()).toBe(before + 1);
      await unblock(); // unblocks the reader's open
      await opening;
      await new Promise((r) => setImmediate(r));
      expect(stuckOperations()).toBe(before);
      expect(late).toBeDefined();
    } finally {
      await release();
    }
  });

  it('withinDeadline: an abort ends the wait at once with the abort reason', async () => {
    const c = new AbortController();
    let finish = () => {};
    const never = new Promise<void>((r) => (finish = r));
    const waiting = withinDeadline(never, 60_000, () => new Error('timed out'), { signal: c.signal });
    c.abort(new Error('Terminated'));
    await expect(waiting).rejects.toThrow('Terminated');
    finish(); // not left stuck for the tests after it
  });

  it('idleDeadline: a blocked open (FIFO) next to ones that finished fails every pending wait once nothing moved, and later waits at once', async () => {
    const { dir, opening, unblock, release } = await blockedFifoOpen();
    let finish = () => {};
    try {
      const before = stuckOperations();
      const deadline = idleDeadline(150, () => new Error('stalled'));
      expect((await deadline.bound(fs.lstat(dir))).isDirectory()).toBe(true);
      const blocked = deadline.bound(opening).catch((e: unknown) => e);
      const held = new Promise<void>((r) => (finish = r));
      const queued = deadline.bound(held).catch((e: unknown) => e);
      expect(await blocked).toMatchObject({ message: 'stalled' });
      expect(await queued).toMatchObject({ message: 'stalled' });
      await expect(deadline.bound(held)).rejects.toThrow('stalled');
      expect(stuckOperations()).toBe(before + 3); // each counted until its operation returns
      await unblock();
      await (await opening).close();
      finish();
      await new Promise((r) => setImmediate(r));
      expect(stuckOperations()).toBe(before);
    } finally {
      finish();
      await release();
    }
  });

  it('idleDeadline: waits that keep finishing, or progress(), are never cut however long the whole takes', async () => {
    const deadline = idleDeadline(300, () => new Error('stalled'));
    for (let i = 0; i < 12; i++) await deadline.bound(delay(40)); // 480 ms in all
    const long = deadline.bound(delay(600).then(() => 'done'));
    for (let i = 0; i < 15; i++) {
      await delay(40);
      deadline.progress();
    }
    expect(await long).toBe('done');
  });

  it('idleDeadline: an abort ends every pending wait at once with the abort reason', async () => {
    const c = new AbortController();
    const deadline = idleDeadline(60_000, () => new Error('stalled'), { signal: c.signal });
    const waiting = deadline.bound(delay(50));
    c.abort(new Error('Terminated'));
    await expect(waiting).rejects.toThrow('Terminated');
    await expect(deadline.bound(delay(1))).rejects.toThrow('Terminated');
    // the two waits given up on count as stuck until their delays return: none is left for the tests after
    expect(await stuckOperationsSettled(1_000)).toBe(true);
  });
});

describe('operations left running (leaveRunning) and the end-of-run wait (stuckOperationsSettled)', () => {
  /** A promise that settles when the test says so. */
  function held<T>(): { work: Promise<T>; resolve: (v: T) => void; reject: (err: unknown) => void } {
    let resolve!: (v: T) => void;
    let reject!: (err: unknown) => void;
    const work = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
    return { work, resolve, reject };
  }
  const turn = () => new Promise((r) => setImmediate(r));

  // every test here counts stuck operations exactly: it starts with none (an earlier test's waits given up on have returned)
  beforeEach(async () => {
    expect(await stuckOperationsSettled(5_000)).toBe(true);
  });

  it('leaveRunning: the work counts as stuck until it settles, whether it succeeds or fails', async () => {
    const ok = held<void>();
    const failing = held<void>();
    try {
      leaveRunning(ok.work);
      leaveRunning(failing.work);
      expect(stuckOperations()).toBe(2);
      ok.resolve();
      await turn();
      expect(stuckOperations()).toBe(1);
      failing.reject(new Error('EROFS: read-only file system'));
      await turn();
      expect(stuckOperations()).toBe(0);
    } finally {
      ok.resolve();
      failing.reject(new Error('EROFS'));
    }
  });

  it('leaveRunning: a rejection is not unhandled', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      leaveRunning(Promise.reject(new Error('EIO')));
      const failing = held<void>();
      leaveRunning(failing.work);
      failing.reject(new Error('EROFS'));
      for (let i = 0; i < 3; i++) await turn();
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
    expect(await stuckOperationsSettled(10_000)).toBe(true);
  });

  it('stuckOperationsSettled: true at once when none is left, and as soon as the last one returns (no polling)', async () => {
    expect(await stuckOperationsSettled(5_000)).toBe(true);
    const a = held<void>();
    const b = held<void>();
    leaveRunning(a.work);
    leaveRunning(b.work);
    let settled: boolean | undefined;
    void stuckOperationsSettled(5_000).then((v) => (settled = v));
    a.resolve();
    await turn();
    expect(settled).toBeUndefined(); // one is still running
    b.resolve();
    await turn();
    expect(settled).toBe(true);
  });

  it('stuckOperationsSettled: false after `ms` while one is still running', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const a = held<void>();
    try {
      leaveRunning(a.work);
      const settled = stuckOperationsSettled(2_000);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(await settled).toBe(false);
    } finally {
      vi.useRealTimers();
      a.resolve();
    }
    expect(await stuckOperationsSettled(10_000)).toBe(true);
  });
});
