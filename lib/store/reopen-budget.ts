/**
 * How often a source is reopened after a failed transfer, and how long to wait before: one rule
 * for a whole file (fetch-blob) and for one piece of it (fetch-ranges). Only real progress earns
 * more reopens: a server that drips a few bytes per attempt would otherwise never run out of them
 * (the stall watchdog ends each attempt, and each one "made progress").
 */
import { SourceError } from '../errors.ts';

/** an attempt that delivers less than this (or less than the rest it was asked for) counts as stalled */
const MIN_PROGRESS = 1024 * 1024;
const MAX_DELAY_MS = 4000;

export interface ReopenOptions {
  /** reopen attempts after failures that made too little progress (default 3) */
  maxStalledReopens?: number;
  /** delay before reopening after a mid-body failure (default 250 ms, doubled each time, max 4 s) */
  reopenDelayMs?: number;
}

export class ReopenBudget {
  private stalled = 0;
  private delay: number;

  constructor(private readonly opts: ReopenOptions) {
    this.delay = opts.reopenDelayMs ?? 250;
  }

  /**
   * After an attempt failed with `err` having delivered `progress` bytes of the `rest` it was
   * asked for: the wait before reopening, or undefined when this source has had enough (the
   * failure is not retryable, the source already retried on its own, or too many stalls).
   */
  afterFailure(err: unknown, progress: number, rest: number): number | undefined {
    if (progress > 0 && progress >= Math.min(MIN_PROGRESS, rest)) {
      this.stalled = 0;
      this.delay = this.opts.reopenDelayMs ?? 250;
    } else {
      this.stalled++;
    }
    const retryable = err instanceof SourceError ? err.retryable : true;
    // a source that already retried on its own (data.attempts) gets no second round of retries from here
    const sourceGaveUp = err instanceof SourceError && typeof err.data?.attempts === 'number';
    if (!retryable || (sourceGaveUp && progress === 0) || this.stalled > (this.opts.maxStalledReopens ?? 3)) return undefined;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    return wait;
  }
}
