/**
 * Get one blob into the content-addressed store from the first source that
 * delivers the right bytes. One pass: every chunk is hashed and written as it
 * arrives; a blob is renamed into the store only after size and sha256 match.
 *
 * Resume: an interrupted transfer leaves <cache>/tmp/<sha>.<unique>.partial.
 * The next attempt claims it (atomic rename to its own unique name, so two
 * processes never share one), re-hashes its bytes (never trusting a prefix
 * blindly) and asks the source for the rest. A source that answers from byte 0
 * instead restarts the file.
 *
 * A large file from a source that serves byte ranges is fetched over several connections
 * (lib/store/fetch-ranges.ts); `<partial>.prefix` then says how much of the partial is valid.
 */
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AllSourcesFailedError,
  IntegrityError,
  ModelmountError,
  DiskError,
  nodeErrorCode,
  SourceError,
  toDiskError,
  type SourceAttempt,
} from '../errors.ts';
import { fsyncDir } from '../fs-atomic.ts';
import { ensureRealDir, readOwnFile } from '../fs-safe.ts';
import { taggedName, tagOwner } from '../owner.ts';
import { blobPath, storeTmpDir } from '../layout.ts';
import type { FileEntry } from '../manifest/schema.ts';
import type { Source } from '../sources/types.ts';
import { formatBytes } from '../format.ts';
import { sha256File } from '../verify/hash.ts';
import { BlobWriter, pipeToWriter } from './blob-writer.ts';
import { fetchRanges, RANGED_MIN_SIZE } from './fetch-ranges.ts';

export interface FetchProgress {
  /** bytes of the file present so far (resumed prefix included) */
  done: number;
  total: number;
  source: string;
}

export interface FetchBlobOptions {
  cacheDir: string;
  artifactId: string;
  file: FileEntry;
  sources: Source[];
  signal?: AbortSignal;
  onProgress?: (p: FetchProgress) => void;
  /**
   * Called once every byte has arrived and matched the manifest, before the blob is fsynced and
   * moved into the store: the caller may start its next transfer meanwhile.
   */
  onVerified?: () => void;
  /** reopen attempts per source after failures that made too little progress (< 1 MiB, or the rest of the file) (default 3) */
  maxStalledReopens?: number;
  /** delay before reopening after a mid-body failure (default 250 ms, doubled each time, max 4 s) */
  reopenDelayMs?: number;
  /** another host's partials (shared store) untouched for less than this are left alone (default 60 s) */
  partialMinAgeMs?: number;
  /**
   * One more connection for this file (pieces of one large file fetched in parallel), if a slot is
   * free under the overall --jobs bound: returns its release, else undefined. Without it, one connection.
   */
  extraConnection?: () => (() => void) | undefined;
  /** files at least this large are fetched over several connections (default 64 MiB) */
  rangedMinSize?: number;
  /** bytes per piece when fetched over several connections (default: chosen from the size) */
  rangePieceSize?: number;
}

export interface FetchBlobResult {
  blob: string;
  source: string;
  /** bytes received over the wire in this run */
  transferred: number;
  /** bytes reused from an earlier partial (re-hashed) */
  resumedFrom: number;
}

const PARTIAL_SUFFIX = '.partial';
/** an attempt that delivers less than this (or less than the rest of the file) counts as stalled */
const MIN_PROGRESS = 1024 * 1024;
/** how often a live fetch refreshes its partial's mtime; well below the default partialMinAgeMs */
const PARTIAL_HEARTBEAT_MS = 10_000;
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS', 'EXDEV']);

/** `<sha>.<host>.<pid>.<random>.partial`: who was writing it, so a live writer's file is never taken. */
function partialName(sha: string): string {
  return taggedName(sha, PARTIAL_SUFFIX);
}

/**
 * May we take over this partial? Ours (this process) or a dead process's on this
 * host: yes. A live process's: no. Another host's (shared NFS store): only once
 * it has been untouched for `minAgeMs`.
 */
export function isAbandoned(name: string, mtimeMs: number, minAgeMs: number, now = Date.now()): boolean {
  const owner = tagOwner(name, PARTIAL_SUFFIX);
  if (owner !== 'unknown') return owner !== 'alive';
  return now - mtimeMs >= minAgeMs;
}

/** Claim the largest abandoned partial for `sha` by renaming it to our own unique name; else a fresh name. */
async function claimPartial(tmpDir: string, sha: string, minAgeMs: number): Promise<string> {
  const mine = path.join(tmpDir, partialName(sha));
  let names: string[] = [];
  try {
    names = (await fs.readdir(tmpDir)).filter((n) => n.startsWith(`${sha}.`) && n.endsWith(PARTIAL_SUFFIX));
  } catch {
    return mine;
  }
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
      await fs.rename(path.join(tmpDir, c.name), mine);
      await fs.rename(path.join(tmpDir, c.name + VALIDATOR_SUFFIX), mine + VALIDATOR_SUFFIX).catch(() => {});
      await fs.rename(path.join(tmpDir, c.name + PREFIX_SUFFIX), mine + PREFIX_SUFFIX).catch(() => {});
      return mine;
    } catch {
      // another process claimed it first
    }
  }
  return mine;
}

/**
 * `<partial>.validator`: which source the partial's bytes came from and that response's validator
 * (ETag / Last-Modified), so a resume in a later run can send If-Range. Only a hint: missing,
 * unreadable or foreign, it is ignored (the sha256 at the end decides).
 */
const VALIDATOR_SUFFIX = '.validator';
interface SavedValidator {
  source: string;
  validator: string;
}

async function readValidator(partial: string): Promise<SavedValidator | undefined> {
  try {
    const v = JSON.parse((await readOwnFile(partial + VALIDATOR_SUFFIX))?.toString('utf8') ?? '') as Partial<SavedValidator>;
    return typeof v.source === 'string' && typeof v.validator === 'string' ? { source: v.source, validator: v.validator } : undefined;
  } catch {
    return undefined;
  }
}

async function writeValidator(partial: string, v: SavedValidator | undefined): Promise<void> {
  try {
    const flag = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
    if (v) await fs.writeFile(partial + VALIDATOR_SUFFIX, `${JSON.stringify(v)}\n`, { mode: 0o600, flag });
    else await fs.rm(partial + VALIDATOR_SUFFIX, { force: true });
  } catch {
    // a hint only: without it, a resume in a later run just sends no If-Range
  }
}

/**
 * `<partial>.prefix`: while a file is fetched in pieces, bytes past the contiguous prefix may have
 * been written out of order into a file already extended to its full size. The record says how
 * many bytes from 0 are valid (never more than are written); a resume cuts the partial back to it.
 * Unreadable or garbled: nothing of the partial is trusted.
 */
const PREFIX_SUFFIX = '.prefix';

async function savePrefix(partial: string, n: number): Promise<void> {
  const flag = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
  await fs.writeFile(partial + PREFIX_SUFFIX, `${n}\n`, { mode: 0o600, flag });
}

/** How much of the partial is valid by its `.prefix` record: undefined without one, 0 if garbled. */
async function readPrefix(partial: string): Promise<number | undefined> {
  let text: string | undefined;
  try {
    text = (await readOwnFile(partial + PREFIX_SUFFIX))?.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return 0;
  }
  if (text === undefined) return undefined;
  return /^\d+\n$/.test(text) ? Number(text.trim()) : 0;
}

class RestartFromZero extends Error {}

/** A store folder that cannot be used (a file where a folder should be, …): exit 5 with the path, not an internal error. */
function storeError(err: unknown, action: string): DiskError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new DiskError(`Failed ${action} (${code}).`, {
    code: 'ESTORE',
    cause: err,
    hint: 'Something in the store folder is not what modelmount made there (a file where a folder should be?). Remove the store folder, or point --cache-dir elsewhere, and run again.',
  });
}

export async function fetchBlob(opts: FetchBlobOptions): Promise<FetchBlobResult> {
  const { cacheDir, file, artifactId, sources, signal } = opts;
  const label = `${artifactId}/${file.path}`;
  const tmpDir = storeTmpDir(cacheDir);
  const dest = blobPath(cacheDir, file.sha256);
  try {
    await ensureRealDir(cacheDir, path.basename(tmpDir)); // never through a link at <cache>/tmp
  } catch (err) {
    if (err instanceof ModelmountError) throw err;
    throw toDiskError(err, `creating ${tmpDir}`) ?? storeError(err, `creating ${tmpDir}`);
  }
  let partial = await claimPartial(tmpDir, file.sha256, opts.partialMinAgeMs ?? 60_000);

  const openPartial = async (flags: number): Promise<fs.FileHandle> => {
    try {
      return await fs.open(partial, flags | fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o600);
    } catch (err) {
      throw toDiskError(err, `creating a temporary file in ${tmpDir}`) ?? err;
    }
  };
  let handle = await openPartial(0);
  let writer: BlobWriter | undefined;
  // Keep our partial's mtime fresh while we own it (waiting on a slow source included), so other
  // processes never take it for abandoned (see claimPartial's minimum age).
  const heartbeat = setInterval(() => {
    const now = new Date();
    handle.utimes(now, now).catch(() => {});
  }, PARTIAL_HEARTBEAT_MS);
  heartbeat.unref();

  const attempts: SourceAttempt[] = [];
  let integrityFailure: IntegrityError | undefined;
  let transferred = 0;
  let keepPartial = true;

  try {
    // A partial left by a fetch in pieces: only its recorded prefix is valid.
    const validPrefix = await readPrefix(partial);
    if (validPrefix !== undefined) {
      if ((await handle.stat()).size > validPrefix) await handle.truncate(validPrefix);
      await fs.rm(partial + PREFIX_SUFFIX, { force: true });
    }
    // The resumed prefix is re-hashed (never trusted blindly), then every chunk as it arrives.
    writer = await BlobWriter.open(handle, file.size);
    let pos = writer.pos;
    const resumedFrom = pos;
    /** bytes present, counting pieces written out of order (for progress) */
    let have = pos;

    // Did the bytes in the partial come from more than one response (an earlier run's prefix, or a
    // resume in this run)? Then a mismatch may be the splice's fault (the file changed on the server
    // between the responses, a stale mirror answered first): worth one download from byte 0.
    let spliced = resumedFrom > 0;
    // where the bytes in the partial came from: source and validator, sent back as If-Range on every
    // resume (this run's, or an earlier run's <partial>.validator)
    let saved = resumedFrom > 0 ? await readValidator(partial) : undefined;

    const restart = async (): Promise<void> => {
      await writer!.reset();
      pos = 0;
      spliced = false;
    };

    for (const source of sources) {
      let stalled = 0;
      let delay = opts.reopenDelayMs ?? 250;
      let restartedForMismatch = false;
      // several connections for a large file, once per source; what it leaves is resumed below with one
      let rangedTried = !(source.ranges && opts.extraConnection && file.size >= (opts.rangedMinSize ?? RANGED_MIN_SIZE));
      for (;;) {
        signal?.throwIfAborted();
        const before = pos;
        try {
          if (!rangedTried && pos < file.size) {
            rangedTried = true;
            const fromSaved = pos > 0 && saved?.source === source.name ? saved.validator : undefined;
            if (pos > 0 && fromSaved === undefined) {
              // a prefix whose origin no validator describes: pieces could not be checked against it
            } else {
              const w = writer;
              await w.flush();
              await savePrefix(partial, pos);
              await handle.truncate(file.size); // pieces then write inside the file, never extending it
              let ranged;
              try {
                ranged = await fetchRanges({
                  handle, writer: w, source, artifactId, path: file.path, size: file.size, sha256: file.sha256,
                  validator: fromSaved, signal, pieceSize: opts.rangePieceSize, acquire: opts.extraConnection!,
                  savePrefix: (n) => savePrefix(partial, n),
                  onValidator: async (v) => {
                    saved = { source: source.name, validator: v };
                    await writeValidator(partial, saved);
                  },
                  onBytes: (n) => {
                    transferred += n;
                    have += n;
                    opts.onProgress?.({ done: have, total: file.size, source: source.name });
                  },
                  maxStalledReopens: opts.maxStalledReopens, reopenDelayMs: opts.reopenDelayMs,
                });
              } finally {
                pos = w.pos;
                have = pos;
                if (pos < file.size) await handle.truncate(pos);
                await fs.rm(partial + PREFIX_SUFFIX, { force: true });
              }
              // pieces no validator ties together may come from different versions of the file
              if (ranged.validator === undefined && ranged.transferred > 0) spliced = true;
              const next: SavedValidator | undefined = ranged.validator !== undefined ? { source: source.name, validator: ranged.validator } : undefined;
              if (next?.validator !== saved?.validator || next?.source !== saved?.source) {
                saved = next;
                await writeValidator(partial, saved);
              }
            }
          }
          if (pos < file.size || file.size === 0) {
            const validator = pos > 0 && saved?.source === source.name ? saved.validator : undefined;
            const opened = await source.open({ artifactId, path: file.path, offset: pos, expectedSize: file.size, expectedSha256: file.sha256, validator, signal });
            // Any source's stream may fail before pipeToWriter listens (below, after awaits): keep the
            // error in `stream.errored` for pipeToWriter to report instead of an unhandled 'error' event.
            opened.stream.on('error', () => {});
            if (opened.start !== pos) {
              if (opened.start !== 0) {
                opened.stream.destroy();
                throw new SourceError('EBADRANGE', `answered from byte ${opened.start}, asked for ${pos}`);
              }
              await restart();
            }
            if (opened.start > 0) spliced = true;
            // A fresh start records its validator; a resume keeps it only if the same source still
            // answers with the same one (otherwise the partial is a splice no validator describes).
            const next: SavedValidator | undefined =
              opened.start === 0
                ? opened.validator !== undefined ? { source: source.name, validator: opened.validator } : undefined
                : saved?.source === source.name && saved.validator === opened.validator ? saved : undefined;
            if (next !== saved) {
              saved = next;
              await writeValidator(partial, saved);
            }
            const w = writer;
            try {
              await pipeToWriter(opened.stream, w, {
                check: (chunk) => {
                  if (w.pos + chunk.length > file.size) {
                    throw new SourceError('ESIZE', `sent more than the manifest size of ${file.size} bytes`, { retryable: false });
                  }
                },
                onChunk: (chunk) => {
                  transferred += chunk.length;
                  opts.onProgress?.({ done: w.pos, total: file.size, source: source.name });
                },
              });
            } finally {
              // What arrived before a failure is kept (and hashed) for the next attempt; a write error wins.
              try {
                await w.flush();
              } catch (err) {
                throw toDiskError(err, `writing ${label} to ${tmpDir} (the file needs ${formatBytes(file.size)}, ${formatBytes(file.size - w.pos)} of it still unwritten)`) ?? err;
              } finally {
                pos = w.pos;
              }
            }
          }
          if (pos < file.size) {
            throw new SourceError('ESHORT', `connection ended after ${pos} of ${file.size} bytes`);
          }
          const actual = await writer.digest();
          if (actual !== file.sha256) {
            const mismatch = new IntegrityError(label, file, { size: pos, sha256: actual }, source.name);
            const wasSpliced = spliced;
            await restart();
            if (wasSpliced && !restartedForMismatch) {
              // The prefix may have come from other bytes (changed file, other source): try once from zero.
              restartedForMismatch = true;
              throw new RestartFromZero();
            }
            integrityFailure = mismatch;
            attempts.push({ source: source.display, code: mismatch.code, message: mismatch.message });
            break;
          }
          // Verified: make it durable and move it into the store.
          opts.onVerified?.();
          await handle.sync();
          if (!(await stillOurs(handle, partial, file.size))) {
            // Another process took our partial for abandoned (this one stalled past the minimum age) and
            // claimed it: its bytes are no longer ours to vouch for. Start over in a fresh partial.
            await writer.close();
            await handle.close().catch(() => {});
            partial = path.join(tmpDir, partialName(file.sha256));
            saved = undefined;
            handle = await openPartial(fsc.O_EXCL);
            writer = await BlobWriter.open(handle, 0);
            pos = 0;
            continue;
          }
          await writer.close();
          await handle.close();
          try {
            await fs.chmod(partial, 0o444);
            // never through a link at <cache>/sha256 or its shard folders
            await ensureRealDir(cacheDir, path.relative(cacheDir, path.dirname(dest)).split(path.sep).join('/'));
            await placeBlob(partial, dest, file, signal);
          } catch (err) {
            // the bytes were right but the store would not take them: a local problem, not the source's
            keepPartial = false;
            if (err instanceof ModelmountError) throw err;
            throw toDiskError(err, `moving ${label} into the store ${cacheDir}`) ?? storeError(err, `moving ${label} into the store ${cacheDir}`);
          }
          keepPartial = false;
          await fsyncDir(path.dirname(dest));
          return { blob: dest, source: source.name, transferred, resumedFrom };
        } catch (err) {
          if (err instanceof RestartFromZero) continue;
          if (signal?.aborted) throw signal.reason ?? err;
          if (err instanceof ModelmountError && !(err instanceof SourceError)) throw err; // disk errors end the run
          const code = err instanceof SourceError ? err.code : nodeErrorCode(err);
          const retryable = err instanceof SourceError ? err.retryable : true;
          const message = err instanceof ModelmountError ? err.message : describeStreamError(err);
          // a source that already retried on its own (data.attempts) gets no second round of retries from here
          const sourceGaveUp = err instanceof SourceError && typeof err.data?.attempts === 'number';
          if (!retryable && pos > before) {
            // This response delivered bytes and then proved wrong (more than the manifest size…):
            // none of the partial is worth keeping for a resume.
            await restart();
          }
          // Only real progress earns more reopens: a server that drips a few bytes per attempt
          // would otherwise never run out of them (the throughput watchdog ends each attempt,
          // and each one "made progress").
          if (pos > before && pos - before >= Math.min(MIN_PROGRESS, file.size - before)) {
            stalled = 0;
            delay = opts.reopenDelayMs ?? 250;
          } else {
            stalled++;
          }
          if (!retryable || (sourceGaveUp && pos === before) || stalled > (opts.maxStalledReopens ?? 3)) {
            attempts.push({ source: source.display, code, message, ...(err instanceof SourceError && err.hint ? { hint: err.hint } : {}) });
            break;
          }
          await sleep(delay, undefined, { signal });
          delay = Math.min(delay * 2, 4000);
        }
      }
    }
    await writer.close();
    await handle.close().catch(() => {});
    if (integrityFailure) {
      keepPartial = false;
      if (attempts.length > 1) {
        const others = attempts.filter((a) => a.code !== 'EINTEGRITY');
        if (others.length) integrityFailure.data!.otherAttempts = others;
      }
      throw integrityFailure;
    }
    // Keep a partial only if it holds bytes worth resuming.
    keepPartial = pos > 0;
    throw new AllSourcesFailedError(label, attempts);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC' || (err as { code?: string }).code === 'ENOSPC') keepPartial = false;
    throw err;
  } finally {
    clearInterval(heartbeat);
    // a write may still be in flight on this descriptor: let it finish before closing
    await writer?.close();
    await handle.close().catch(() => {});
    if (!keepPartial) await fs.rm(partial, { force: true }).catch(() => {});
    if (!keepPartial) await writeValidator(partial, undefined);
    if (!keepPartial) await fs.rm(partial + PREFIX_SUFFIX, { force: true }).catch(() => {});
  }
}

/** Is the file open in `handle` still the one at `partial`, with exactly `size` bytes? */
async function stillOurs(handle: fs.FileHandle, partial: string, size: number): Promise<boolean> {
  try {
    const [mine, there] = await Promise.all([handle.stat(), fs.lstat(partial)]);
    return mine.ino === there.ino && mine.dev === there.dev && mine.size === size;
  } catch {
    return false;
  }
}

/**
 * Put the verified file `partial` at `dest` in the store. Another process may have
 * placed the same blob meanwhile (no lock on this filesystem, or a run that does
 * not take it): an existing correct blob counts as success and is kept, so host
 * files already hardlinked to it stay shared with the store. A wrong one is replaced.
 */
async function placeBlob(partial: string, dest: string, file: FileEntry, signal?: AbortSignal): Promise<void> {
  try {
    await fs.link(partial, dest);
    await fs.rm(partial, { force: true });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      let correct = false;
      try {
        const st = await fs.lstat(dest);
        correct = st.isFile() && st.size === file.size && (await sha256File(dest, signal)) === file.sha256;
      } catch {
        // vanished or unreadable: replace it
      }
      if (correct) {
        await fs.rm(partial, { force: true });
        return;
      }
    } else if (!LINK_UNSUPPORTED.has(code ?? '')) {
      throw toDiskError(err, `moving ${file.path} into the store`) ?? err;
    }
  }
  // no hardlinks here (or a wrong blob in the way): rename, which replaces atomically
  await fs.rename(partial, dest);
}

function describeStreamError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'ECONNRESET') return 'connection reset mid-transfer';
  if (e.code === 'ERR_STREAM_PREMATURE_CLOSE') return 'connection closed mid-transfer';
  return e.code ? `transfer failed (${e.code})` : 'transfer failed';
}
