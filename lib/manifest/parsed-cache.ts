/**
 * A large manifest, once validated, is kept parsed: <user cache>/modelmount-manifests/<hash of
 * its path>-<hash of the build>.json holds the resolved Manifest with the sha256 of the text it
 * came from and the build hash of the code that checked it (MODELMOUNT_BUILD below). The next run with the same bytes, path and code reads
 * that JSON (20,000 files: ~10 ms) instead of parsing and checking the YAML again (~300 ms of
 * CPU). Any other text, path or build of modelmount misses and parses as always.
 *
 * Only manifests of at least CACHE_MIN_BYTES (small ones parse in milliseconds), and only files
 * that are this user's own: the folder and the file owned by this user and writable by nobody
 * else, never through a link (the same trust as the verified-state caches, which vouch for
 * file contents). Anything unexpected is a miss, never an error; a cache that cannot be written
 * only costs the parse next time. Its reads and writes have the stall bound and end at the run's abort.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ModelmountError } from '../errors.ts';
import { removeFile, writeFileAtomic } from '../fs-atomic.ts';
import { isPrivate, readOwnFileAndStats, stallDeadline } from '../fs-safe.ts';
import { parsedManifestsDir } from '../layout.ts';
import { leaveRunning } from '../stall.ts';
import type { Manifest } from './schema.ts';

/** below this a manifest is parsed every time */
export const CACHE_MIN_BYTES = 256 * 1024;
const FORMAT = 'modelmount-parsed-manifest/1';
const MAX_ENTRY_BYTES = 64 * 1024 * 1024;

interface Entry {
  format: typeof FORMAT;
  code: string;
  file: string;
  textSha256: string;
  manifest: Manifest;
}

export interface ParsedCache {
  /** the folder of the entries */
  dir: string;
  /** identity of the code that validated an entry: another build never reads it */
  code: string;
}

/**
 * The build hash of the running bundle: scripts/build.mjs makes the bundle's first line a sha256 of
 * its code, and dist/cli/modelmount.mjs passes that line's hash in as this (an esbuild define). It
 * is the code that runs, by content: a reinstall of the same build hits, any other build misses
 * whatever its file's mtime or inode. Not defined when run from the sources (tsx, vitest).
 */
declare const MODELMOUNT_BUILD: string | undefined;

/**
 * Where the cache lives and which code this is. From the sources there is no cache (undefined):
 * they change without a build, and nothing cheap identifies them as safely as the bundle's hash.
 * Nor without a home folder.
 */
export function defaultParsedCache(env: NodeJS.ProcessEnv): ParsedCache | undefined {
  const build = typeof MODELMOUNT_BUILD === 'string' ? MODELMOUNT_BUILD : undefined;
  const dir = build ? parsedManifestsDir(env) : undefined; // no home folder known: no cache
  return build && dir ? { dir, code: build } : undefined;
}

/** entries kept per manifest path: one per build of modelmount that read it (a global and a project's own, a before and an after) */
const KEEP_PER_PATH = 4;

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 24);
}

/** <hash of the path>-<hash of the build>.json */
function entryPath(cache: ParsedCache, file: string): string {
  return path.join(cache.dir, `${shortHash(file)}-${shortHash(cache.code)}.json`);
}

/** entries of any path not written or read for this long go (a CI job's checkout folder that never comes back) */
const STALE_ENTRY_MS = 7 * 24 * 3600 * 1000;
/**
 * A hit moves the entry's mtime to now only when it is this old (touchEntry): an entry read at
 * least every STALE_ENTRY_MS - TOUCH_AFTER_MS (6 days) is never pruned as stale, and most runs
 * (the same manifest again within the day) touch nothing.
 */
const TOUCH_AFTER_MS = 24 * 3600 * 1000;
/** a temp file of an interrupted write, this old, goes */
const STALE_TMP_MS = 24 * 3600 * 1000;

/**
 * Remove all but the last used KEEP_PER_PATH entries of `file`'s path (other builds, long gone), any
 * entry not used for STALE_ENTRY_MS and any temp file older than STALE_TMP_MS. An entry's mtime is
 * its last use, to within TOUCH_AFTER_MS: its write, or its last hit that touched it (touchEntry).
 * The folder is modelmount's own (lib/layout.ts parsedManifestsDir), private to the user.
 */
async function pruneEntries(cache: ParsedCache, file: string, now = Date.now()): Promise<void> {
  const prefix = `${shortHash(file)}-`;
  const dated = await Promise.all(
    (await fs.readdir(cache.dir)).map(async (n) => ({ n, at: (await fs.lstat(path.join(cache.dir, n)).catch(() => undefined))?.mtimeMs ?? now })),
  );
  const mine = dated.filter(({ n }) => n.startsWith(prefix) && n.endsWith('.json')).sort((a, b) => b.at - a.at);
  const gone = new Set(mine.slice(KEEP_PER_PATH).map(({ n }) => n));
  for (const { n, at } of dated) if (now - at >= (n.endsWith('.json') ? STALE_ENTRY_MS : STALE_TMP_MS)) gone.add(n);
  for (const n of gone) await removeFile(path.join(cache.dir, n)).catch(() => {}); // best effort: one that cannot go stops no other
}

function textDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The manifest of `text` at `file`: the kept one, else `parse()` kept for the next run. Not kept
 * after a read of the entry that stalled: the write would wait on the same hung folder for another
 * stall bound. `signal` (the run's): an abort ends a wait on the cache at once, with its reason.
 */
export async function parsedManifestOf(cache: ParsedCache, file: string, text: string, parse: () => Manifest, signal?: AbortSignal): Promise<Manifest> {
  const kept = await lookUpEntry(cache, file, text, signal);
  if (kept.manifest) return kept.manifest;
  const manifest = parse();
  if (!kept.stalled) await writeParsedManifest(cache, file, text, manifest, signal);
  return manifest;
}

async function lookUpEntry(cache: ParsedCache, file: string, text: string, signal: AbortSignal | undefined): Promise<{ manifest?: Manifest; stalled?: boolean }> {
  if (text.length < CACHE_MIN_BYTES) return {};
  const p = entryPath(cache, file);
  try {
    const read = await readOwnFileAndStats(p, { privateCache: { maxBytes: MAX_ENTRY_BYTES }, signal });
    if (read === undefined) return {};
    const entry = JSON.parse(read.bytes.toString('utf8')) as Partial<Entry>;
    const ok = entry.format === FORMAT && entry.code === cache.code && entry.file === file && entry.textSha256 === textDigest(text);
    if (!ok || !entry.manifest || typeof entry.manifest !== 'object') return {};
    if (Date.now() - read.stats.mtimeMs >= TOUCH_AFTER_MS) touchEntry(p);
    return { manifest: entry.manifest };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    // not ours, a link, torn or corrupt (JSON that does not parse), stalled: parse as always
    return { stalled: err instanceof ModelmountError && err.code === 'ESTALLED' };
  }
}

/**
 * A hit is a use: the entry's mtime moves to now, so pruning (by mtime) keeps the entry runs
 * read. Only once it is TOUCH_AFTER_MS old: a touch left running counts as stuck, and the entry
 * point waits only briefly for those before it ends by SIGTERM, so a slow one on every run
 * would cost a fast successful run its exit status. Best effort and not waited for: a touch
 * that hangs (a hung mount) must not hold up the run it saves a parse for. lutimes, never
 * through a link.
 */
function touchEntry(p: string): void {
  const now = new Date();
  leaveRunning(fs.lutimes(p, now, now));
}

/** JSON that reads back as the same value (no undefined in arrays, no NaN or Infinity, no class instances), or undefined. */
function faithfulJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, function (this: unknown, _key: string, v: unknown) {
      if ((typeof v === 'number' && !Number.isFinite(v)) || (v === undefined && Array.isArray(this)) || typeof v === 'bigint') throw new Error('not JSON');
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) throw new Error('not JSON');
      return v;
    });
  } catch {
    return undefined;
  }
}

/** Keep `manifest` (validated from `text` at `file`) for the next run. Best effort; an abort of `signal` (the run's) ends it at once with its reason. */
export async function writeParsedManifest(cache: ParsedCache, file: string, text: string, manifest: Manifest, signal?: AbortSignal): Promise<void> {
  if (text.length < CACHE_MIN_BYTES) return;
  const entry: Entry = { format: FORMAT, code: cache.code, file, textSha256: textDigest(text), manifest };
  const json = faithfulJson(entry);
  if (json === undefined) return;
  const write = async (): Promise<void> => {
    await fs.mkdir(cache.dir, { recursive: true, mode: 0o700 });
    const dir = await fs.lstat(cache.dir);
    if (!dir.isDirectory() || !isPrivate(dir)) return;
    // replaced whole (temp file, rename) but not fsynced: a crash may lose or tear it, a miss either way
    await writeFileAtomic(entryPath(cache, file), json, 0o600, { realBelow: cache.dir, durable: false });
    await pruneEntries(cache, file);
  };
  try {
    // bounded like the read: a home folder on a hung mount must not hold the run
    await stallDeadline('Keeping the parsed manifest in', cache.dir, { signal }).bound(write());
  } catch {
    if (signal?.aborted) throw signal.reason;
    // read-only or full home, another writer, a hung mount: the next run parses again
  }
}
