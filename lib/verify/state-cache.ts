/**
 * Verified-state cache: "this file, with this identity, had this sha256".
 * Identity = (device, inode, size, mtime ns, ctime ns). Any write, chmod, link
 * count change or replacement changes at least one of them, so a hit means the
 * bytes are the ones we hashed and an unchanged multi-GB set verifies from stat
 * calls alone.
 */
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { readJsonIfExists, writeFileAtomic } from '../fs-atomic.ts';
import type { DiskFolder } from '../disk-folder.ts';
import { hostStatePath } from '../layout.ts';

interface Entry {
  id: string;
  sha256: string;
}

interface CacheFile {
  version: 1;
  entries: Record<string, Entry>;
}

/**
 * An entries object without a prototype: any key is only a key. On a plain object `__proto__`
 * would set the prototype (and not be saved), and `toString` would be found in it unrecorded.
 * Not a Map: the object is what JSON gives and takes, without a copy of 20,000+ entries (issue 15).
 */
function bareEntries(from?: unknown): Record<string, Entry> {
  if (from === null || typeof from !== 'object' || Array.isArray(from)) return Object.create(null) as Record<string, Entry>;
  // JSON.parse makes a key "__proto__" an own property: it stays one
  return Object.setPrototypeOf(from, null) as Record<string, Entry>;
}

export function statIdentity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

export class StateCache {
  private dirty = false;
  /**
   * identity → keys recorded for it, built on the first relinked() and kept up to date after: an
   * install relinks once per file, and a scan of every entry each time was quadratic (20,000 files:
   * minutes). Profiled on 2,000 small files: 1.7 s of 10 s CPU in relinked.
   * One key is kept as itself, a Set only for an identity with several (names of one inode): a Set
   * per file was 11 MB for the two caches of 20,000 files (issue 15, peak RSS).
   */
  private byId: Map<string, string | Set<string>> | undefined;
  private constructor(
    private readonly file: string,
    private readonly entries: Record<string, Entry>,
    private readonly realBelow: string,
  ) {}

  /**
   * `realBelow`: no link is followed on the way from this folder to the file (default: the file's
   * own folder); `folder`: the host folder's cache or the store's, for a stall's hint.
   */
  static async load(file: string, folder: DiskFolder, realBelow = path.dirname(file), opts: { signal?: AbortSignal } = {}): Promise<StateCache> {
    const data = await readJsonIfExists<CacheFile>(file, { realBelow, folder, signal: opts.signal });
    return new StateCache(file, bareEntries(data?.version === 1 ? data.entries : undefined), realBelow);
  }

  /** The host folder's cache, <hostDir>/.modelmount/state.json (never through a link in .modelmount). */
  static loadHost(hostDir: string, opts: { signal?: AbortSignal } = {}): Promise<StateCache> {
    return StateCache.load(hostStatePath(hostDir), 'host', hostDir, opts);
  }

  /** A cache that starts empty and is never saved (status when the host folder's own records are refused). */
  static none(): StateCache {
    return new StateCache('', bareEntries(), '');
  }

  /** The sha256 recorded for `key` if the file still has the identity it had then. */
  lookup(key: string, st: BigIntStats): string | undefined {
    const e = this.entries[key];
    return e && e.id === statIdentity(st) ? e.sha256 : undefined;
  }

  /** The identity `key`'s entry was recorded for ('' when there is none): what a stat must show for lookup() to hit. */
  recordedIdentity(key: string): string {
    return this.entries[key]?.id ?? '';
  }

  /** The sha256 recorded for `key` if its entry is still the one for identity `id` (a stat elsewhere showed `id`). */
  lookupIdentity(key: string, id: string): string | undefined {
    const e = this.entries[key];
    return e && id && e.id === id ? e.sha256 : undefined;
  }

  record(key: string, st: BigIntStats, sha256: string): void {
    const id = statIdentity(st);
    const e = this.entries[key];
    if (e && e.id === id && e.sha256 === sha256) return;
    if (e) this.unindex(key, e.id);
    this.entries[key] = { id, sha256 };
    this.index(key, id);
    this.dirty = true;
  }

  private index(key: string, id: string): void {
    if (!this.byId) return;
    const keys = this.byId.get(id);
    if (keys === undefined) this.byId.set(id, key);
    else if (typeof keys !== 'string') keys.add(key);
    else if (keys !== key) this.byId.set(id, new Set([keys, key]));
  }

  private unindex(key: string, id: string): void {
    const keys = this.byId?.get(id);
    if (keys === undefined) return;
    if (typeof keys === 'string') {
      if (keys === key) this.byId!.delete(id);
      return;
    }
    keys.delete(key);
    if (keys.size === 0) this.byId!.delete(id);
  }

  /**
   * A file's link count changed (link() or unlink() of another name of the same inode): its ctime
   * moved, its bytes did not. Entries that were current for `before` become current for `after`, so
   * the other names of a shared blob are not hashed again next time. Only a ctime change is carried
   * over; a different inode, size or mtime leaves every entry as it is. Returns how many moved.
   */
  relinked(before: BigIntStats, after: BigIntStats): number {
    if (before.dev !== after.dev || before.ino !== after.ino || before.size !== after.size || before.mtimeNs !== after.mtimeNs) return 0;
    const from = statIdentity(before);
    const to = statIdentity(after);
    if (from === to) return 0;
    if (!this.byId) {
      this.byId = new Map();
      for (const [key, e] of Object.entries(this.entries)) this.index(key, e.id);
    }
    const known = this.byId.get(from);
    const keys = known === undefined ? [] : typeof known === 'string' ? [known] : [...known];
    for (const key of keys) {
      this.unindex(key, from);
      this.entries[key]!.id = to;
      this.index(key, to);
    }
    if (keys.length) this.dirty = true;
    return keys.length;
  }

  forget(key: string): void {
    if (key in this.entries) {
      this.unindex(key, this.entries[key]!.id);
      delete this.entries[key];
      this.dirty = true;
    }
  }

  /** Keys whose entry was recorded for exactly this identity (statIdentity). */
  keysWithIdentity(id: string): string[] {
    return Object.keys(this.entries).filter((k) => this.entries[k]!.id === id);
  }

  keys(): string[] {
    return Object.keys(this.entries);
  }

  /** Persist if anything changed. A cache that cannot be written only costs a re-hash next time. */
  async save(): Promise<void> {
    if (!this.dirty || !this.file) return;
    // keys sorted by code unit (the default sort), the entries copied in that order: Object.entries
    // then fromEntries made a [key, entry] array per file (~5 MB for 20,000 files, issue 15)
    const sorted = bareEntries();
    for (const key of Object.keys(this.entries).sort()) sorted[key] = this.entries[key]!;
    try {
      await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, entries: sorted } satisfies CacheFile)}\n`, 0o644, { realBelow: this.realBelow });
      this.dirty = false;
    } catch {
      // read-only host folder, or a concurrent writer won the rename: both are harmless for a cache
    }
  }
}

/** A cache and where the file behind each of its keys is. */
export interface CacheWithPaths {
  cache: StateCache;
  pathOf: (key: string) => string;
}

/**
 * Removing or replacing a name of a file that has other names moved the ctime of that inode
 * (`before`: its stat taken just before). Find one surviving name through the caches that knew the
 * inode and carry every entry over (StateCache.relinked), so the next run does not hash those
 * files again. Best effort: a miss only costs a re-hash.
 */
export async function carryOverRelinked(shared: Iterable<BigIntStats>, caches: CacheWithPaths[]): Promise<void> {
  for (const before of shared) {
    const id = statIdentity(before);
    let after: BigIntStats | undefined;
    for (const { cache, pathOf } of caches) {
      for (const key of cache.keysWithIdentity(id)) {
        after = await fs.lstat(pathOf(key), { bigint: true }).catch(() => undefined);
        if (after) break;
      }
      if (after) break;
    }
    if (after) for (const { cache } of caches) cache.relinked(before, after);
  }
}
