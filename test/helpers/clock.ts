/** A Clock for tests: the time stands still unless a sleep moves it; every sleep is recorded, none waits. */
import type { Clock } from '../../lib/clock.ts';

export interface RecordingClock extends Clock {
  /** every sleep asked for, in ms, in order */
  slept: number[];
}

export function recordingClock(start = Date.now()): RecordingClock {
  let t = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      slept.push(ms);
      t += ms;
    },
  };
}
