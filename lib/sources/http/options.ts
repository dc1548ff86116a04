/** What every network source (http, s3, oci) takes from the run: environment, timeouts, retries, TLS trust. */
import type { LookupFunction } from 'node:net';
import { STALL_DEFAULTS } from '../../stall.ts';
import type { Clock } from '../../clock.ts';

export interface HttpSourceOptions {
  /** Environment for tokenEnv and the proxy variables; default process.env. */
  env?: NodeJS.ProcessEnv;
  timeouts?: {
    /** DNS lookup + TCP connect (+ proxy CONNECT) limit, ms. Default 15 000. */
    connectMs?: number;
    /** No byte received for this long (waiting for headers or in the body), ms. Default 30 000. */
    idleMs?: number;
    /** Minimum throughput; below it for a whole window the transfer is abandoned. Default 1024 B/s. */
    stallBytesPerSec?: number;
    /** Window for the throughput watchdog, ms. Default 30 000. */
    stallWindowMs?: number;
  };
  retry?: {
    /** Retries after the first attempt, before the body starts. Default 4. */
    limit?: number;
    /** Upper bound for one backoff wait, Retry-After included, ms. Default 30 000. */
    maxDelayMs?: number;
    /** First backoff, doubled each retry, ms. Default 500. */
    baseDelayMs?: number;
  };
  userAgent?: string;
  /** Trusted CA certificate(s), PEM, replacing the system store for this source (private mirror, tests). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** DNS lookup for direct connections (tests map made-up names to loopback). */
  lookup?: LookupFunction;
  /** waits between retries (Retry-After, backoff) */
  clock?: Clock;
}

export const HTTP_DEFAULTS = {
  connectMs: 15_000,
  ...STALL_DEFAULTS,
  retryLimit: 4,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxRedirects: 5,
} as const;


export type HttpTimeouts = Required<NonNullable<HttpSourceOptions['timeouts']>>;
export type HttpRetry = { limit: number; maxDelayMs: number; baseDelayMs: number };

/** The options with their defaults filled in. */
export function resolveHttpOptions(opts: HttpSourceOptions): { timeouts: HttpTimeouts; retry: HttpRetry } {
  return {
    timeouts: {
      connectMs: opts.timeouts?.connectMs ?? HTTP_DEFAULTS.connectMs,
      idleMs: opts.timeouts?.idleMs ?? HTTP_DEFAULTS.idleMs,
      stallBytesPerSec: opts.timeouts?.stallBytesPerSec ?? HTTP_DEFAULTS.stallBytesPerSec,
      stallWindowMs: opts.timeouts?.stallWindowMs ?? HTTP_DEFAULTS.stallWindowMs,
    },
    retry: {
      limit: opts.retry?.limit ?? HTTP_DEFAULTS.retryLimit,
      maxDelayMs: opts.retry?.maxDelayMs ?? HTTP_DEFAULTS.maxDelayMs,
      baseDelayMs: opts.retry?.baseDelayMs ?? HTTP_DEFAULTS.baseDelayMs,
    },
  };
}
