/**
 * Time as a dependency: what waits (retry backoff, Retry-After, lock polls and heartbeats) asks a
 * Clock, so tests can run those waits without spending real time.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface Clock {
  /** ms since the epoch */
  now(): number;
  /** resolves after `ms`; rejects (AbortError) when `signal` aborts */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, undefined, signal ? { signal } : undefined),
};
