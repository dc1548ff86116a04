/** When to retry a request and how long to wait: Retry-After, or exponential backoff with jitter. */

/** Statuses below 500 that are worth another attempt. */
export const RETRY_STATUSES = new Set([408, 429]);

/** Retry-After (delta-seconds or HTTP-date) in ms from `now`, or undefined when absent/unparseable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const when = Date.parse(v);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/**
 * Wait before retry number `retry` (1-based): Retry-After when the server gave one, otherwise
 * exponential backoff with "equal jitter" (between half and all of base·2^(retry-1)); both capped.
 */
export function retryDelayMs(
  retry: number,
  retryAfter: string | undefined,
  opts: { baseDelayMs: number; maxDelayMs: number },
  now: number = Date.now(),
  random: () => number = Math.random,
): number {
  const fromServer = parseRetryAfter(retryAfter, now);
  if (fromServer !== undefined) return Math.min(fromServer, opts.maxDelayMs);
  const exp = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}
