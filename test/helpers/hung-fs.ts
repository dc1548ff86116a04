/** A look at one path on a hung network mount: fs/promises' `method` never answers for `p` until released. */
import type { PathLike } from 'node:fs';
import fs from 'node:fs/promises';
import { expect, vi } from 'vitest';
import { stuckOperationsSettled } from '../../lib/stall.ts';

const pending = new Set<() => void>();

export interface HungLook {
  /** fs[method] was asked for the hung path (with `fromCall`: that many times) */
  called: () => boolean;
  /** every path fs[method] was asked for, hung or not, in order */
  asked: () => string[];
  /** answer the hung look (and any later one) as usual */
  release: () => void;
}

/**
 * fs[method] of `p` (or of every path `p` accepts) hanging until `release()` (or endHungLooks()),
 * answering as usual elsewhere. `fromCall` (1 by default): the look at such a path that hangs
 * first, and every later one; the earlier looks answer as usual (a mount that stops answering
 * during a run, after the reads the run makes before the one under test).
 * One per method at a time: a second spy on the same method would silently replace the first, so
 * that (or any other mock of it) throws.
 */
export function hangFs(method: 'lstat' | 'stat' | 'readdir' | 'open' | 'realpath' | 'lutimes', p: string | ((q: string) => boolean), { fromCall = 1 }: { fromCall?: number } = {}): HungLook {
  if (vi.isMockFunction(fs[method])) throw new Error(`hangFs: fs.${method} is already mocked in this test; a second hang of it would replace the first`);
  const real = fs[method] as (q: PathLike, ...rest: unknown[]) => Promise<unknown>;
  const isHung = typeof p === 'string' ? (q: string) => q === p : p;
  let release = () => {};
  const hung = new Promise<void>((resolve) => (release = resolve));
  pending.add(release);
  let looks = 0;
  const spy = vi.spyOn(fs, method).mockImplementation((async (q: PathLike, ...rest: unknown[]) => {
    if (isHung(String(q)) && ++looks >= fromCall) await hung;
    return real(q, ...rest);
  }) as never);
  const asked = () => spy.mock.calls.map((c) => String(c[0]));
  return { called: () => looks >= fromCall, asked, release };
}

/**
 * Until `hung` is asked, one turn of the event loop at a time (so also under fake timers); fails at
 * once when `run` settles first (the code no longer looks there), instead of spinning until the
 * test's timeout.
 */
export async function untilAsked(hung: Pick<HungLook, 'called'>, run: Promise<unknown>): Promise<void> {
  let settled = false;
  run.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (!hung.called() && !settled) await new Promise((resolve) => setImmediate(resolve));
  expect(hung.called(), 'the run ended without looking at the hung path').toBe(true);
}

/** After a test: real timers, every hung look answered and no longer hung, and none left stuck. */
export async function endHungLooks(): Promise<void> {
  vi.useRealTimers();
  for (const release of pending) release();
  pending.clear();
  vi.restoreAllMocks();
  expect(await stuckOperationsSettled(10_000)).toBe(true);
}
