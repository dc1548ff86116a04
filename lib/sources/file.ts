/**
 * A local or NFS folder as a source. Files are opened without following a
 * symlink in the last component (O_NOFOLLOW), every parent folder must resolve
 * inside the source root, and the opened handle must be a regular file: a tree
 * that links to /etc/passwd cannot leak it into the store. Files are opened with
 * O_NONBLOCK (a FIFO, socket or device is refused at once, and the next source
 * tried), and every call and every read has the stall bound HTTP has: a hung
 * mount fails this source instead of blocking the run.
 */
import { constants as fsc, createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { nodeErrorCode, SourceError, type SourceErrorCode } from '../errors.ts';
import type { ResolvedSource } from '../manifest/schema.ts';
import { folderIdentity, kindOf } from '../fs-safe.ts';
import { boundStalls, seconds, stallBounds, withinDeadline, type StallBounds } from '../stall.ts';
import type { OpenedRange, OpenRequest, Source } from './types.ts';
import { isSameOrInside } from '../path-inside.ts';
import { CHUNK as READ_CHUNK, readPooled } from './pooled-read.ts';

export interface FileSourceOptions {
  /** stall bounds, the HTTP source's by default (lib/stall.ts) */
  timeouts?: Partial<StallBounds>;
}

export function createFileSource(src: ResolvedSource, opts: FileSourceOptions = {}): Source {
  const root = src.base;
  let realRoot: Promise<string> | undefined;
  const name = src.name;
  const bounds = stallBounds(opts.timeouts);

  const fail = (code: SourceErrorCode, message: string, retryable: boolean, cause?: unknown): SourceError =>
    new SourceError(code, message, { retryable, cause });

  /** One filesystem call, bounded like an HTTP request: a hung mount fails this source, and the next one is tried. */
  const bounded = <T>(what: string, work: Promise<T>, signal?: AbortSignal, onLate?: (v: T) => void): Promise<T> =>
    withinDeadline(work, bounds.idleMs, () => fail('ESTALLED', `${what} in ${root} stalled: no answer for ${seconds(bounds.idleMs)} (a hung mount?)`, true), {
      ...(signal ? { signal } : {}),
      ...(onLate ? { onLate } : {}),
    });

  /**
   * Folders whose real path is their path (no link on the way), by path: their identity when
   * realpath said so. A many-file artifact asks for the same folders once per file, and realpath
   * is a readlink per level (6 per file, measured in issue 15); a folder whose lstat (not following
   * a final link) still shows that identity is the folder realpath checked, so its files are opened
   * where they were. A folder swapped for a link, removed or made anew shows another identity or
   * none, and goes through realpath again (which refuses a link that leaves the root). What a hit
   * does not notice is what ensureRealDir's memo does not (lib/fs-safe.ts): a level above moved
   * away and replaced by a link back to the same folder; the bytes still come from that folder.
   */
  const realDirs = new Map<string, string>();

  async function realFolder(dir: string, bound: <T>(work: Promise<T>) => Promise<T>): Promise<string> {
    const known = realDirs.get(dir);
    if (known !== undefined) {
      const st = await bound(fs.lstat(dir, { bigint: true })).catch((err: unknown) => {
        if (err instanceof SourceError) throw err; // stalled: a hung mount
        return undefined;
      });
      if (st && folderIdentity(st) === known) return dir;
      realDirs.delete(dir);
    }
    const real = await bound(fs.realpath(dir));
    if (real === dir) {
      const st = await bound(fs.lstat(dir, { bigint: true })).catch(() => undefined);
      const id = st && folderIdentity(st);
      if (id !== undefined) realDirs.set(dir, id);
    }
    return real;
  }

  async function open(req: OpenRequest): Promise<OpenedRange> {
    const rel = `${req.artifactId}/${req.path}`;
    const file = path.join(root, ...rel.split('/'));
    realRoot ??= fs.realpath(root);
    let rootReal: string;
    try {
      rootReal = await bounded(`opening the folder`, realRoot, req.signal);
    } catch (err) {
      realRoot = undefined;
      if (err instanceof SourceError || req.signal?.aborted) throw err;
      throw fail('ENOROOT', `source folder ${root} is not reachable (${(err as NodeJS.ErrnoException).code ?? 'error'})`, false, err);
    }
    let parentReal: string;
    try {
      parentReal = await realFolder(path.dirname(file), (work) => bounded(`opening ${rel}`, work, req.signal));
    } catch (err) {
      if (err instanceof SourceError || req.signal?.aborted) throw err;
      throw fail('EMISSING', `${rel} not found in ${root}`, false, err);
    }
    if (!isSameOrInside(parentReal, rootReal)) {
      throw fail('EOUTSIDE', `${rel} resolves outside the source folder ${root} (a symlinked folder): refused`, false);
    }
    let handle: fs.FileHandle;
    try {
      // O_NONBLOCK: a FIFO opens at once (and is refused below) instead of waiting for a writer
      const opening = fs.open(path.join(parentReal, path.basename(file)), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
      handle = await bounded(`opening ${rel}`, opening, req.signal, (h) => void h.close().catch(() => {}));
    } catch (err) {
      if (err instanceof SourceError || req.signal?.aborted) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || code === 'EMLINK') {
        throw fail('ESYMLINK', `${rel} in ${root} is a symlink: refused (copy the real file into the source folder)`, false, err);
      }
      if (code === 'ENOENT') throw fail('EMISSING', `${rel} not found in ${root}`, false, err);
      if (code === 'ENXIO') throw fail('ENOTFILE', `${rel} in ${root} is not a regular file (a socket): refused`, false, err);
      throw fail(nodeErrorCode(err), `cannot open ${rel} in ${root} (${code ?? 'error'})`, code === 'EIO' || code === 'ESTALE', err);
    }
    try {
      const st = await bounded(`reading ${rel}`, handle.stat(), req.signal);
      if (!st.isFile()) throw fail('ENOTFILE', `${rel} in ${root} is not a regular file (${kindOf(st)}): refused`, false);
      if (st.size !== req.expectedSize) {
        throw fail('ESIZE', `${rel} in ${root} is ${st.size} bytes, the manifest says ${req.expectedSize}`, false);
      }
      const start = req.offset <= st.size ? req.offset : 0;
      // Reads of the file's own size (at most READ_CHUNK), and none past the size fstat gave: a
      // ReadStream allocates a buffer of its highWaterMark per read, and one more read finds the
      // end. For a 30 KiB file that was 2 MiB of allocations and a read more (issue 15, RSS).
      const rest = st.size - start;
      const onStall = (why: string) => fail('ESTALLED', `reading ${rel} in ${root} stalled: ${why} (a hung mount?)`, true);
      if (rest > READ_CHUNK) {
        // a large file: its chunks come back once written and are read into again (RSS, issue 15)
        const pooled = readPooled(handle, { start, end: st.size, ...(req.signal ? { signal: req.signal } : {}) });
        return { start, totalSize: st.size, stream: boundStalls(pooled.stream, bounds, onStall), recycle: pooled.recycle };
      }
      const raw = createReadStream('', {
        fd: handle, start, ...(rest > 0 ? { end: st.size - 1 } : {}), highWaterMark: rest > 0 ? rest : 64 * 1024, autoClose: true, signal: req.signal,
      });
      return { start, totalSize: st.size, stream: boundStalls(raw, bounds, onStall) };
    } catch (err) {
      void handle.close().catch(() => {}); // not awaited: on a hung mount it may never return
      throw err;
    }
  }

  async function probe(signal?: AbortSignal): Promise<void> {
    try {
      const st = await bounded('reading the folder', fs.stat(root), signal);
      if (!st.isDirectory()) throw new Error('not a folder');
    } catch (err) {
      throw fail('ENOROOT', `source folder ${root} is not reachable: ${(err as Error).message}`, false, err);
    }
  }

  return { name, kind: 'file', display: `${name} (${root})`, open, probe };
}
