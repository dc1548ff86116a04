/**
 * A process policy for runs that fetch many files: V8's old generation may grow only to 1.6 × what
 * the last full GC kept. Called by the update and warm services once their plan is known.
 */
import { setFlagsFromString } from 'node:v8';
import type { Plan } from '../plan.ts';

/** from this many files to fetch on, the old generation's growth is capped (tightenHeapGrowth) */
export const MANY_FILES = 1000;
/** V8's --heap-growing-percent for a run of MANY_FILES or more: the next full GC at 1.6 × what the last one kept */
const HEAP_GROWING_PERCENT = 60;
let heapTightened = false;

/**
 * Cap how far V8 lets the old generation grow between two full GCs, once per process, for a plan with
 * at least MANY_FILES files to fetch. Each file's objects (got's request and its options, streams,
 * promises) outlive a scavenge or two and land in the old generation as garbage; V8 grows the heap
 * to up to 4 × what its last full GC kept before collecting it again (20,000 files over HTTP: heap
 * 285 MB for 80 MB live, peak RSS 438 MB; issue 15). `--heap-growing-percent` is read at each full
 * GC, so it takes effect when set at run time, in this process: no second process, no start-up
 * cost, and runs with fewer files (a no-op update, a few large files) are left as they were.
 * 60 %, not less: at 30 % the full GCs ran back to back while the shards streamed in (their
 * buffers' external memory counts towards the limit), +12 s of CPU. `setFlags` is for tests. If a
 * future V8 dropped the flag, V8 would print one warning and go on.
 */
export function tightenHeapGrowth(filesToFetch: number, setFlags: (flags: string) => void = setFlagsFromString): boolean {
  if (heapTightened || filesToFetch < MANY_FILES) return false;
  heapTightened = true;
  setFlags(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}

/** tightenHeapGrowth for a plan: its files not skipped are the files to fetch */
export function tightenHeapGrowthFor(plan: Plan): boolean {
  return tightenHeapGrowth(plan.files.reduce((n, f) => (f.action === 'skip' ? n : n + 1), 0));
}
