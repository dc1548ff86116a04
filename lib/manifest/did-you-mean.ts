import { levenshtein } from '../levenshtein.ts';

/** The candidate closest to `s` when it is plausibly a typo of it. */
export function closest(s: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === s.toLowerCase() ? 0 : levenshtein(s.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.min(3, Math.floor(s.length / 3))) ? best : undefined;
}
