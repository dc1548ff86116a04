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
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AllSourcesFailedError,
  IntegrityError,
  ModelmountError,
  SourceError,
  toDiskError,
  type SourceAttempt,
} from '../errors.ts';
import { fsyncDir, uniqueSuffix } from '../fs-atomic.ts';
import { blobPath, storeTmpDir } from '../layout.ts';
import type { FileEntry } from '../manifest/schema.ts';
import type { Source } from '../sources/types.ts';

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
  /** reopen attempts per source after a failure that made no progress (default 3) */
  maxStalledReopens?: number;
  /** delay before reopening after a mid-body failure (default 250 ms, doubled each time, max 4 s) */
  reopenDelayMs?: number;
  /** partials untouched for less than this are assumed to belong to a live process and left alone (default 60 s) */
  partialMinAgeMs?: number;
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

/** Claim the largest abandoned partial for `sha` by renaming it to our own unique name; else a fresh name. */
async function claimPartial(tmpDir: string, sha: string, minAgeMs: number): Promise<string> {
  const mine = path.join(tmpDir, `${sha}.${uniqueSuffix()}${PARTIAL_SUFFIX}`);
  let names: string[] = [];
  try {
    names = (await fs.readdir(tmpDir)).filter((n) => n.startsWith(`${sha}.`) && n.endsWith(PARTIAL_SUFFIX));
  } catch {
    return mine;
  }
  const now = Date.now();
  const candidates: { name: string; size: number }[] = [];
  for (const name of names) {
    try {
      const st = await fs.lstat(path.join(tmpDir, name));
      if (st.isFile() && now - st.mtimeMs >= minAgeMs) candidates.push({ name, size: st.size });
    } catch {
      // gone meanwhile
    }
  }
  candidates.sort((a, b) => b.size - a.size);
  for (const c of candidates) {
    try {
      await fs.rename(path.join(tmpDir, c.name), mine);
      return mine;
    } catch {
      // another process claimed it first
    }
  }
  return mine;
}

/** Hash the bytes already in `handle` (up to `limit`), return [hash, length]. */
async function hashPrefix(handle: fs.FileHandle, limit: number): Promise<[Hash, number]> {
  const hash = createHash('sha256');
  const st = await handle.stat();
  let length = Math.min(st.size, limit);
  if (st.size > limit) {
    await handle.truncate(0);
    length = 0;
  }
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let pos = 0;
  while (pos < length) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, length - pos), pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return [hash, pos];
}

class RestartFromZero extends Error {}

export async function fetchBlob(opts: FetchBlobOptions): Promise<FetchBlobResult> {
  const { cacheDir, file, artifactId, sources, signal } = opts;
  const label = `${artifactId}/${file.path}`;
  const tmpDir = storeTmpDir(cacheDir);
  const dest = blobPath(cacheDir, file.sha256);
  await fs.mkdir(tmpDir, { recursive: true });
  const partial = await claimPartial(tmpDir, file.sha256, opts.partialMinAgeMs ?? 60_000);

  let handle: fs.FileHandle;
  try {
    handle = await fs.open(partial, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw toDiskError(err, `creating a temporary file in ${tmpDir}`) ?? err;
  }

  const attempts: SourceAttempt[] = [];
  let integrityFailure: IntegrityError | undefined;
  let transferred = 0;
  let keepPartial = true;

  try {
    let [hash, pos] = await hashPrefix(handle, file.size);
    const resumedFrom = pos;

    const restart = async (): Promise<void> => {
      await handle.truncate(0);
      hash = createHash('sha256');
      pos = 0;
    };

    for (const source of sources) {
      let stalled = 0;
      let delay = opts.reopenDelayMs ?? 250;
      let restartedForMismatch = false;
      for (;;) {
        signal?.throwIfAborted();
        const before = pos;
        try {
          if (pos < file.size || file.size === 0) {
            const opened = await source.open({ artifactId, path: file.path, offset: pos, expectedSize: file.size, signal });
            if (opened.start !== pos) {
              if (opened.start !== 0) {
                opened.stream.destroy();
                throw new SourceError('ERANGE', `answered from byte ${opened.start}, asked for ${pos}`);
              }
              await restart();
            }
            for await (const chunk of opened.stream as AsyncIterable<Buffer>) {
              if (pos + chunk.length > file.size) {
                opened.stream.destroy();
                throw new SourceError('ESIZE', `sent more than the manifest size of ${file.size} bytes`, { retryable: false });
              }
              hash.update(chunk);
              try {
                await handle.write(chunk, 0, chunk.length, pos);
              } catch (err) {
                opened.stream.destroy();
                throw toDiskError(err, `writing ${label} to ${tmpDir}`) ?? err;
              }
              pos += chunk.length;
              transferred += chunk.length;
              opts.onProgress?.({ done: pos, total: file.size, source: source.name });
            }
          }
          if (pos < file.size) {
            throw new SourceError('ESHORT', `connection ended after ${pos} of ${file.size} bytes`);
          }
          const actual = hash.digest('hex');
          if (actual !== file.sha256) {
            const mismatch = new IntegrityError(label, file, { size: pos, sha256: actual }, source.name);
            await restart();
            if (resumedFrom > 0 && !restartedForMismatch) {
              // The old prefix may have come from other bytes (changed file, other source): try once from zero.
              restartedForMismatch = true;
              throw new RestartFromZero();
            }
            integrityFailure = mismatch;
            attempts.push({ source: source.display, code: mismatch.code, message: mismatch.message });
            break;
          }
          // Verified: make it durable and move it into the store.
          await handle.sync();
          await handle.close();
          await fs.chmod(partial, 0o444);
          await fs.mkdir(path.dirname(dest), { recursive: true });
          await fs.rename(partial, dest);
          keepPartial = false;
          await fsyncDir(path.dirname(dest));
          return { blob: dest, source: source.name, transferred, resumedFrom };
        } catch (err) {
          if (err instanceof RestartFromZero) continue;
          if (signal?.aborted) throw signal.reason ?? err;
          if (err instanceof ModelmountError && !(err instanceof SourceError)) throw err; // disk errors end the run
          const code = (err as { code?: string }).code ?? 'EIO';
          const retryable = err instanceof SourceError ? err.retryable : true;
          const message = err instanceof ModelmountError ? err.message : describeStreamError(err);
          if (pos > before) {
            stalled = 0;
            delay = opts.reopenDelayMs ?? 250;
          } else {
            stalled++;
          }
          if (!retryable || stalled > (opts.maxStalledReopens ?? 3)) {
            attempts.push({ source: source.display, code, message });
            break;
          }
          await sleep(delay, undefined, { signal });
          delay = Math.min(delay * 2, 4000);
        }
      }
    }
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
    await handle.close().catch(() => {});
    if (!keepPartial) await fs.rm(partial, { force: true }).catch(() => {});
  }
}

function describeStreamError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'ECONNRESET') return 'connection reset mid-transfer';
  if (e.code === 'ERR_STREAM_PREMATURE_CLOSE') return 'connection closed mid-transfer';
  return e.code ? `transfer failed (${e.code})` : 'transfer failed';
}
