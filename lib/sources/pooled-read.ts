/**
 * A readable over a byte range of an open file that reads into buffers given back to it.
 *
 * fs.ReadStream allocates a fresh buffer per read. For a 100 MiB shard that is a hundred 1 MiB
 * buffers the garbage collector frees only when V8 next looks at external memory: copying the 20
 * shards of issue 15's many-file set allocated 2,000 of them. Here a chunk the consumer is done
 * with (written to disk) comes back through `recycle` and is read into again, by this file's stream
 * or the next one's: the process holds about as many buffers as are queued at once. A chunk never
 * given back is simply garbage: nothing depends on recycle being called.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { leaveRunning } from '../stall.ts';

export interface PooledRange {
  stream: Readable;
  /** The consumer no longer needs `chunk` (its bytes are written): it may be read into again. */
  recycle: (chunk: Buffer) => void;
}

/** bytes read at a time */
export const CHUNK = 1024 * 1024;

/** buffers of CHUNK bytes given back and not read into yet, for every stream of the process */
const free: Buffer[] = [];
/** the most kept for reuse: about what two copies hold queued (lib/store/blob-writer.ts MAX_QUEUED) */
const MAX_FREE = 16;

/** Bytes [start, end) of `handle`; the handle is closed when the stream ends or is destroyed. */
export function readPooled(handle: FileHandle, opts: { start: number; end: number; signal?: AbortSignal }): PooledRange {
  let pos = opts.start;
  let reading: Promise<void> | undefined;

  const stream = new Readable({
    highWaterMark: CHUNK,
    signal: opts.signal,
    read() {
      const want = Math.min(CHUNK, opts.end - pos);
      if (want <= 0) {
        this.push(null);
        return;
      }
      const buf = free.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
      reading = handle.read(buf, 0, want, pos).then(
        ({ bytesRead }) => {
          reading = undefined;
          if (this.destroyed) return;
          // a file cut short ends the stream early, as fs.ReadStream does: the size check is the caller's
          if (bytesRead === 0) {
            this.push(null);
            return;
          }
          pos += bytesRead;
          this.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        },
        (err: Error) => {
          reading = undefined;
          this.destroy(err);
        },
      );
    },
    destroy(err, callback) {
      if (!reading) {
        handle.close().then(() => callback(err), (closeErr: Error) => callback(err ?? closeErr));
        return;
      }
      // The read in flight still fills its buffer: close the file only after it. On a hung mount
      // that read may never return: the stream ends now (an abort surfaces at once, not after the
      // stall bound) and the close runs on, counted until it returns (a failure then has nobody to tell).
      leaveRunning(reading.then(() => handle.close()));
      callback(err);
    },
  });

  return { stream, recycle };
}

/** Give `chunk` back for reading into (only a whole buffer of this module's). */
function recycle(chunk: Buffer): void {
  if (chunk.byteOffset === 0 && chunk.length === CHUNK && chunk.buffer.byteLength === CHUNK && free.length < MAX_FREE) free.push(chunk);
}
