/**
 * Check the host folder against the manifest. Default: trust the verified-state
 * cache (stat only) and hash what it does not vouch for; `full`: hash everything.
 * Never follows symlinks: a link where a file should be is "not-regular".
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { artifactDir } from '../layout.ts';
import type { Artifact, FileEntry } from '../manifest/schema.ts';
import { mapLimit, Semaphore } from '../concurrency.ts';
import { sha256File } from './hash.ts';
import { StateCache } from './state-cache.ts';
import { stallDeadline } from '../fs-safe.ts';
import { progressInterval, type IdleDeadline } from '../stall.ts';
import { STAT_WORKER_MIN, statVerdicts, VERDICT, type StatQueries } from './stat-verdicts.ts';

export type FileStatus = 'ok' | 'missing' | 'size' | 'modified' | 'not-regular';

export interface FileCheck {
  artifactId: string;
  path: string;
  hostPath: string;
  status: FileStatus;
  expected: FileEntry;
  actualSize?: number;
  actualSha256?: string;
  /** true when the verdict came from the state cache rather than a fresh hash */
  cached?: boolean;
}

export interface VerifyOptions {
  full?: boolean;
  /** how many files are hashed at once */
  jobs?: number;
  signal?: AbortSignal;
  onFile?: (check: FileCheck) => void;
  /** no answer from the host folder (an lstat, the stat worker's or a hash's progress) for this long is a stall, exit 5; default STALL_DEFAULTS.idleMs */
  idleMs?: number;
  /** the stat worker's script (tests: one that is silent, slow or missing) */
  statWorkerUrl?: URL;
}

export function cacheKey(artifactId: string, filePath: string): string {
  return `${artifactId}/${filePath}`;
}

/** The host file a host cache key (cacheKey) stands for. */
export function hostKeyPath(hostDir: string, key: string): string {
  return path.join(hostDir, ...key.split('/'));
}

/** One file through `cache`; `deadline` (checkHostFiles'), which carries the run's signal, bounds every wait. */
async function checkHostFile(
  dir: string,
  artifactId: string,
  file: FileEntry,
  cache: StateCache,
  opts: Pick<VerifyOptions, 'full'> & { deadline: IdleDeadline; hashSlots?: Semaphore },
): Promise<FileCheck> {
  const { deadline } = opts;
  const hostPath = joinPlain(dir, file.path);
  // each result an object literal: V8 gives every `{ ...base, more }` a hidden class of its own
  // (20,000 of them for a many-file artifact: ~7 MB and megamorphic reads, issue 15)
  const filePath = file.path;
  const key = cacheKey(artifactId, file.path);
  let st;
  try {
    st = await deadline.bound(fs.lstat(hostPath, { bigint: true }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      return { artifactId, path: filePath, hostPath, expected: file, status: 'missing' };
    }
    throw err;
  }
  if (!st.isFile()) return { artifactId, path: filePath, hostPath, expected: file, status: 'not-regular' };
  const size = Number(st.size);
  if (size !== file.size) return { artifactId, path: filePath, hostPath, expected: file, status: 'size', actualSize: size };
  if (!opts.full) {
    const known = cache.lookup(key, st);
    if (known !== undefined) {
      return { artifactId, path: filePath, hostPath, expected: file, status: known === file.sha256 ? 'ok' : 'modified', actualSize: size, actualSha256: known, cached: true };
    }
  }
  // the hash reports its progress: one that stops moving (a hung mount) is a stall, a slow one is
  // waited for; a hash given up on (a stall, or an abort of the run's signal, which the deadline
  // carries) is cancelled, so a worker does not read on for nobody
  const hashing = async () => {
    const givenUp = new AbortController();
    try {
      return await deadline.bound(sha256File(hostPath, givenUp.signal, { everyMs: progressInterval(deadline), onProgress: () => deadline.progress() }));
    } catch (err) {
      givenUp.abort(err);
      throw err;
    }
  };
  const sha = await (opts.hashSlots ? opts.hashSlots.use(hashing) : hashing());
  // Record against the identity seen before hashing: if the file changed meanwhile, the entry will not match next time.
  cache.record(key, st, sha);
  return { artifactId, path: filePath, hostPath, expected: file, status: sha === file.sha256 ? 'ok' : 'modified', actualSize: size, actualSha256: sha };
}

/** how many files are looked at (lstat) at once; hashing stays bounded by `jobs` */
const STAT_JOBS = 16;

/** Every file of `artifacts` in the host folder, `jobs` at a time, through `cache`. */
export async function checkHostFiles(hostDir: string, artifacts: Artifact[], cache: StateCache, opts: VerifyOptions = {}): Promise<FileCheck[]> {
  opts.signal?.throwIfAborted();
  // the one deadline of every wait on the host folder (an lstat, the stat worker, a hash, each
  // following its progress): a hung host folder is a stall naming it (exit 5), never a hang
  const deadline = stallDeadline('Checking the files in', hostDir, { idleMs: opts.idleMs, signal: opts.signal, folder: 'host' });
  // An artifact whose folder (or a folder above it, the host folder itself on a first install) is
  // not there has none of its files: one lstat per folder instead of one failing lstat per file
  // (each ENOENT costs an Error: 20,000 new artifacts took a second of CPU).
  const seen = new Map<string, Promise<boolean>>();
  const folderThere = (dir: string): Promise<boolean> => {
    let p = seen.get(dir);
    if (!p) {
      const parent = path.dirname(dir);
      const above = dir === hostDir || parent === dir ? Promise.resolve(true) : folderThere(parent);
      // only the lstat's own failure means "not there" (or "look at the file to see why"); a stall
      // or an abort of the deadline is thrown: no file is looked at in a folder that does not answer
      p = above.then((ok) =>
        ok ? deadline.bound(fs.lstat(dir).then(() => true, (err: NodeJS.ErrnoException) => err.code !== 'ENOENT' && err.code !== 'ENOTDIR')) : false,
      );
      seen.set(dir, p);
    }
    return p;
  };
  // one folder string per artifact, every file's path joined to it: a path per file from
  // artifactDir would be a rope of its own (~400 bytes; 8 MB for 20,000 files, issue 15)
  const work = artifacts.flatMap((a) => {
    const dir = artifactDir(hostDir, a.id);
    return a.files.map((f) => ({ id: a.id, dir, f }));
  });
  // the worker settles a missing file (or folder) itself: folders are looked at only for the rest
  const settled = await settleFromCache(work, cache, { ...opts, deadline });
  // `jobs` bounds the hashing; the lstat that settles most files from the state cache runs with
  // more in flight: one at a time per job, 20,000 files waited on 20,000 thread-pool round trips.
  const jobs = opts.jobs ?? 2;
  const hashSlots = new Semaphore(jobs);
  const checks = new Array<FileCheck>(work.length);
  const rest: number[] = [];
  for (let i = 0; i < work.length; i++) {
    const check = settled?.[i];
    if (!check) rest.push(i);
    else {
      checks[i] = check;
      opts.onFile?.(check);
    }
  }
  await mapLimit(rest, Math.max(jobs, STAT_JOBS), async (i) => {
    const { id, dir, f } = work[i]!;
    const check: FileCheck = (await folderThere(dir))
      ? await checkHostFile(dir, id, f, cache, { ...opts, hashSlots, deadline })
      : { artifactId: id, path: f.path, hostPath: joinPlain(dir, f.path), expected: f, status: 'missing' };
    checks[i] = check;
    opts.onFile?.(check);
  });
  return checks;
}

/**
 * Many files, trusting the cache: one worker looks at all of them (./stat-verdicts.ts) and the
 * checks it settles are made here; the rest (undefined) go the per-file way. Undefined when the
 * worker is not worth starting or could not answer; a worker that stops answering is a stall (thrown).
 */
async function settleFromCache(
  work: readonly { id: string; dir: string; f: FileEntry }[],
  cache: StateCache,
  opts: VerifyOptions & { deadline: IdleDeadline },
): Promise<(FileCheck | undefined)[] | undefined> {
  if (opts.full || work.length < STAT_WORKER_MIN) return undefined;
  const q: StatQueries = { paths: [], sizes: [], ids: [] };
  const keys: string[] = [];
  const index: number[] = [];
  for (let i = 0; i < work.length; i++) {
    const { id, dir, f } = work[i]!;
    const key = cacheKey(id, f.path);
    index.push(i);
    keys.push(key);
    q.paths.push(joinPlain(dir, f.path));
    q.sizes.push(f.size);
    q.ids.push(cache.recordedIdentity(key));
  }
  // the worker can vouch only for files the state cache knows: with few (a new or lost state.json) it would look for nothing
  let known = 0;
  for (const id of q.ids) if (id) known++;
  if (known < STAT_WORKER_MIN) return undefined;
  const verdicts = await statVerdicts(q, { deadline: opts.deadline, workerUrl: opts.statWorkerUrl });
  if (!verdicts) return undefined;
  const out = new Array<FileCheck | undefined>(work.length);
  for (let n = 0; n < index.length; n++) {
    const i = index[n]!;
    const { id, f } = work[i]!;
    if (verdicts[n] === VERDICT.missing) out[i] = { artifactId: id, path: f.path, hostPath: q.paths[n]!, expected: f, status: 'missing' };
    else if (verdicts[n] === VERDICT.cached) {
      const known = cache.lookupIdentity(keys[n]!, q.ids[n]!);
      if (known !== undefined) {
        out[i] = { artifactId: id, path: f.path, hostPath: q.paths[n]!, expected: f, status: known === f.sha256 ? 'ok' : 'modified', actualSize: f.size, actualSha256: known, cached: true };
      }
    }
  }
  return out;
}

/** a path that path.join would change (".", "..", "//", a leading or trailing "/"): joined by path.join */
const NOT_PLAIN = /(?:^|\/)\.\.?(?:\/|$)|\/\/|^\/|\/$/;

/** path.join(dir, rel) for a normalised `dir`, by concatenation when `rel` is plain (every path of a valid manifest) */
export function joinPlain(dir: string, rel: string): string {
  return rel === '' || dir.endsWith('/') || NOT_PLAIN.test(rel) ? path.join(dir, rel) : `${dir}/${rel}`;
}

export async function verifyHostFiles(hostDir: string, artifacts: Artifact[], opts: VerifyOptions = {}): Promise<FileCheck[]> {
  const cache = await StateCache.loadHost(hostDir, { signal: opts.signal });
  try {
    return await checkHostFiles(hostDir, artifacts, cache, opts);
  } finally {
    await cache.save();
  }
}
