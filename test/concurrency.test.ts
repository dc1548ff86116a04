/** mapLimit and Semaphore: the limits every transfer and hash runs under. */
import { describe, expect, it } from 'vitest';
import { mapLimit, Semaphore } from '../lib/concurrency.ts';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('mapLimit', () => {
  it('keeps input order, never runs more than the limit, and stops starting work after a failure', async () => {
    let active = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, n));
      active--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);

    const started: number[] = [];
    const err = await mapLimit([1, 2, 3, 4, 5], 1, async (n) => {
      started.push(n);
      if (n === 2) throw new Error('boom');
      return n;
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe('boom');
    expect(started).toEqual([1, 2]);
  });
});

describe('Semaphore', () => {
  it('runs at most `size` at once; release() hands the slot on before fn settles, once only', async () => {
    const sem = new Semaphore(1);
    const events: string[] = [];
    const firstDone = gate();
    const first = sem.use(async (release) => {
      events.push('first starts');
      release();
      release(); // a second call must not free a second slot
      await firstDone.promise;
      events.push('first ends');
    });
    const secondDone = gate();
    const second = sem.use(async () => {
      events.push('second starts');
      await secondDone.promise;
      events.push('second ends');
    });
    const third = sem.use(async () => {
      events.push('third starts');
    });
    await tick();
    // the first released its slot early: the second runs while the first is still busy…
    expect(events).toEqual(['first starts', 'second starts']);
    firstDone.open();
    await first;
    await tick();
    // …but the third waits for the second: release() freed one slot, not two
    expect(events).toEqual(['first starts', 'second starts', 'first ends']);
    secondDone.open();
    await Promise.all([second, third]);
    expect(events).toEqual(['first starts', 'second starts', 'first ends', 'second ends', 'third starts']);
  });

  it('frees the slot when fn throws', async () => {
    const sem = new Semaphore(1);
    await expect(sem.use(async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(await sem.use(async () => 'next')).toBe('next');
  });

  it('tryAcquire takes a free slot only, and never one a waiter was handed', async () => {
    const sem = new Semaphore(2);
    const extra = sem.tryAcquire();
    expect(extra).toBeDefined();
    let release!: () => void;
    const holder = sem.use(() => new Promise<void>((r) => (release = r)));
    await Promise.resolve();
    expect(sem.tryAcquire()).toBeUndefined(); // both slots taken
    let ran = false;
    const waiter = sem.use(async () => {
      ran = true;
    });
    extra!(); // handed straight to the waiter
    expect(sem.tryAcquire()).toBeUndefined();
    await waiter;
    expect(ran).toBe(true);
    release();
    await holder;
    const a = sem.tryAcquire();
    const b = sem.tryAcquire();
    expect(a && b).toBeDefined();
    expect(sem.tryAcquire()).toBeUndefined();
  });
});
