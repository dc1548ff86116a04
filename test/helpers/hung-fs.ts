/** A look at one path on a hung network mount: fs/promises' `method` never answers for `p` until released. */
import type { PathLike } from 'node:fs';
import fs from 'node:fs/promises';
import { expect, vi } from 'vitest';
import { stuckOperationsSettled } from '../../lib/stall.ts';

const pending = new Set<() => void>();

/** fs[method] of `p` hanging until `release()` (or endHungLooks()), answering as usual elsewhere; `called()` once it was asked. */
export function hangFs(method: 'lstat' | 'readdir' | 'open' | 'realpath', p: string): { called: () => boolean; release: () => void } {
  const real = fs[method] as (q: PathLike, ...rest: unknown[]) => Promise<unknown>;
  let release = () => {};
  const hung = new Promise<void>((resolve) => (release = resolve));
  pending.add(release);
  const spy = vi.spyOn(fs, method).mockImplementation((async (q: PathLike, ...rest: unknown[]) => {
    if (String(q) === p) await hung;
    return real(q, ...rest);
  }) as never);
  return { called: () => spy.mock.calls.some((c) => String(c[0]) === p), release };
}

/** After a test: real timers, every hung look answered and no longer hung, and none left stuck. */
export async function endHungLooks(): Promise<void> {
  vi.useRealTimers();
  for (const release of pending) release();
  pending.clear();
  vi.restoreAllMocks();
  expect(await stuckOperationsSettled(10_000)).toBe(true);
}
