/**
 * Which partial a fetch of one blob continues in <cache>/tmp: the largest abandoned one for its
 * sha256 (lib/store/partial.ts), claimed by an atomic rename to a name of this process's own,
 * and the names that are there, read once per run (TmpListing).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { taggedName, tagOwner } from '../owner.ts';

export const PARTIAL_SUFFIX = '.partial';
/**
 * `<partial>.validator`: which source the partial's bytes came from and that response's validator
 * (ETag / Last-Modified), so a resume in a later run can send If-Range. Only a hint: missing,
 * unreadable or foreign, it is ignored (the sha256 at the end decides).
 */
export const VALIDATOR_SUFFIX = '.validator';
/**
 * `<partial>.prefix`: while a file is fetched in pieces, bytes past the contiguous prefix may have
 * been written out of order into a file already extended to its full size. The record says how
 * many bytes from 0 are valid (never more than are written); a resume cuts the partial back to it.
 * Unreadable or garbled: nothing of the partial is trusted.
 */
export const PREFIX_SUFFIX = '.prefix';
/**
 * `<sha>.<host>.<pid>.<random>.sealed`: a small blob's verified bytes (lib/store/memory-blob.ts),
 * written, fsynced and read-only, between their write and their link into the store. Never resumed;
 * one left by a crash is removed by gc.
 */
export const SEALED_SUFFIX = '.sealed';

/**
 * May we take over this partial? Ours (this process) or a dead process's on this
 * host: yes. A live process's: no. Another host's (shared NFS store): only once
 * it has been untouched for `minAgeMs`.
 */
export function isAbandoned(name: string, mtimeMs: number, minAgeMs: number, now = Date.now()): boolean {
  const owner = tagOwner(name, PARTIAL_SUFFIX);
  if (owner !== 'unknown') return owner !== 'alive';
  // in whole milliseconds, as Date.now() counts: a partial written this millisecond is 0 ms old
  return now - Math.floor(mtimeMs) >= minAgeMs;
}

/**
 * The names in <cache>/tmp, read once per run (a Store's): a readdir per blob was one of ~30 file
 * operations per small file. A partial some other process leaves there later in the run is not
 * seen (it is fetched anew under another name, as when that process is still at work, and that
 * partial is left as it is); those this process keeps are added, those it claims go. Small blobs
 * only: fetchBlob uses no listing for a big one (RANGED_MIN_SIZE or more), so it finds and resumes
 * a partial left at any time (both: test/fetch-blob.test.ts).
 */
export class TmpListing {
  private names: Promise<Set<string>> | undefined;

  constructor(private readonly tmpDir: string) {}

  /** the partials of `sha` in the folder (read on the first call) */
  async partialsOf(sha: string): Promise<string[]> {
    this.names ??= fs.readdir(this.tmpDir).then((n) => new Set(n.filter((x) => x.endsWith(PARTIAL_SUFFIX))));
    let all: Set<string>;
    try {
      all = await this.names;
    } catch {
      this.names = undefined; // not a listing for the rest of the run: read again next time
      return [];
    }
    const out: string[] = [];
    for (const n of all) if (n.startsWith(`${sha}.`)) out.push(n);
    return out;
  }

  add(name: string): void {
    void this.names?.then((s) => s.add(name));
  }

  delete(name: string): void {
    void this.names?.then((s) => s.delete(name));
  }
}

/** The partials of `sha` in `tmpDir`: from the run's listing, else one readdir. */
async function partialsOf(tmpDir: string, sha: string, listing: TmpListing | undefined): Promise<string[] | undefined> {
  if (listing) return listing.partialsOf(sha);
  try {
    return (await fs.readdir(tmpDir)).filter((n) => n.startsWith(`${sha}.`) && n.endsWith(PARTIAL_SUFFIX));
  } catch {
    return undefined;
  }
}

/** Is there a partial of `sha` in `tmpDir` (abandoned or not)? From the run's listing, else one readdir. */
export async function hasPartials(tmpDir: string, sha: string, listing?: TmpListing): Promise<boolean> {
  return Boolean((await partialsOf(tmpDir, sha, listing))?.length);
}

/**
 * Rename the largest abandoned partial for `sha` to our own unique name (`<sha>.<host>.<pid>.<random>.partial`);
 * else just that name (`claimed` false: a name nothing has used, with no records).
 */
export async function claimName(tmpDir: string, sha: string, minAgeMs: number, listing?: TmpListing): Promise<{ file: string; claimed: boolean }> {
  const mine = path.join(tmpDir, taggedName(sha, PARTIAL_SUFFIX));
  const names = await partialsOf(tmpDir, sha, listing);
  if (!names?.length) return { file: mine, claimed: false };
  const candidates: { name: string; size: number }[] = [];
  for (const name of names) {
    try {
      const st = await fs.lstat(path.join(tmpDir, name));
      if (st.isFile() && isAbandoned(name, st.mtimeMs, minAgeMs)) candidates.push({ name, size: st.size });
    } catch {
      // gone meanwhile
    }
  }
  candidates.sort((a, b) => b.size - a.size);
  for (const c of candidates) {
    try {
      listing?.delete(c.name);
      await fs.rename(path.join(tmpDir, c.name), mine);
      await fs.rename(path.join(tmpDir, c.name + VALIDATOR_SUFFIX), mine + VALIDATOR_SUFFIX).catch(() => {});
      await fs.rename(path.join(tmpDir, c.name + PREFIX_SUFFIX), mine + PREFIX_SUFFIX).catch(() => {});
      return { file: mine, claimed: true };
    } catch {
      // another process claimed it first
    }
  }
  // the partials seen were gone or not abandoned: `mine` is still a fresh name
  return { file: mine, claimed: false };
}
