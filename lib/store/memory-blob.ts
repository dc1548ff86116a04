/**
 * A small blob received into memory (lib/store/blob-sink.ts): hashed as its chunks arrive, and
 * written to disk once, after its sha256 matched, in a fresh file created read-only, fsynced,
 * closed, then linked into the store (lib/store/place-blob.ts). A partial file on disk cost a
 * dozen file operations per blob (create, fstat, write, read back for the hash, fsync, lstat,
 * chmod, …), each a trip through libuv's thread pool: with 20,000 files of a few KiB that,
 * not the bytes, was the work (issue 15).
 *
 * Interrupted (all sources failed, abort), the bytes that arrived are left as an ordinary partial
 * (PartialBlob.keep) so a later run resumes them; a blob with an abandoned partial to resume is
 * fetched in that partial instead (openSink).
 */
import { createHash, type Hash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import path from 'node:path';
import { diskFailure } from '../disk-failure.ts';
import type { FileEntry } from '../manifest/schema.ts';
import { removeFile } from '../fs-atomic.ts';
import { taggedName } from '../owner.ts';
import { INLINE_HASH_BELOW } from '../verify/hash-pool.ts';
import { BlobSink, type SavedValidator, type SinkWriter } from './blob-sink.ts';
import { writeAllAt } from './blob-writer.ts';
import { hasPartials, SEALED_SUFFIX, type TmpListing } from './claim-partial.ts';
import { openInTmp, PartialBlob } from './partial.ts';

/**
 * Blobs below this size are received into memory: the size below which the hash was already
 * computed on the receiving thread from one read back (lib/verify/hash-pool.ts). A blob is held
 * from its first byte until its sealed file is written; a transfer slot is freed once it verified
 * (onVerified), so the bound is the files in flight (64 per artifact, lib/update/install-tasks.ts):
 * at most 16 MiB per artifact.
 */
export const MEMORY_BLOB_MAX = INLINE_HASH_BELOW;

/**
 * Where a fetch of `file` puts its bytes: memory for a small blob with no partial to resume and
 * never fetched in pieces (below `rangedMinSize`), else a partial file (claimed, or fresh).
 */
export async function openSink(
  tmpDir: string, file: FileEntry, opts: { rangedMinSize: number; partialMinAgeMs?: number; tmpListing?: TmpListing },
): Promise<BlobSink> {
  const small = file.size < Math.min(MEMORY_BLOB_MAX, opts.rangedMinSize);
  // checked after the await and taken at once (MemoryBlob's constructor): no other fetch in between
  if (small && !(await hasPartials(tmpDir, file.sha256, opts.tmpListing)) && held + file.size <= MEMORY_BLOBS_BUDGET) {
    return new MemoryBlob(tmpDir, file.sha256, file.size, opts.tmpListing);
  }
  return PartialBlob.claim(tmpDir, file.sha256, opts.partialMinAgeMs ?? 60_000, opts.tmpListing);
}

/**
 * Bytes all memory blobs of this process may hold at once: artifacts install in parallel, each with
 * up to 64 files under way, and a verified blob waits for its write and fsync after its transfer slot
 * is free (a slow disk). Past it, a small blob goes to a partial file as a large one does.
 */
const MEMORY_BLOBS_BUDGET = 64 * 1024 * 1024;
let held = 0;

/** created read-only (no chmod afterwards); openInTmp adds O_CREAT and O_NOFOLLOW */
const SEALED_FLAGS = fsc.O_WRONLY | fsc.O_EXCL;
/**
 * Does the umask take read permission from 0444 (rare)? Then chmod as a partial does. Seen on the
 * first sealed file's mode: process.umask() without an argument sets the umask to 0 for a moment,
 * and another thread creating a file then would get it without the umask.
 */
let umaskTakesRead: boolean | undefined;

class MemoryWriter implements SinkWriter {
  pos = 0;
  chunks: Buffer[] = [];
  private hash: Hash = createHash('sha256');

  push(chunk: Buffer): boolean {
    this.hash.update(chunk);
    this.chunks.push(chunk);
    this.pos += chunk.length;
    return true;
  }

  async ready(): Promise<void> {}

  async flush(): Promise<void> {}

  async reset(): Promise<void> {
    this.chunks = [];
    this.pos = 0;
    this.hash = createHash('sha256');
  }

  async digest(): Promise<string> {
    return this.hash.copy().digest('hex');
  }

  async close(): Promise<void> {}
}

export class MemoryBlob extends BlobSink {
  readonly writer = new MemoryWriter();
  /** the sealed file in <cache>/tmp, once written */
  private sealed: string | undefined;

  /** counted in `held` until close() */
  private holding: number;

  constructor(
    private readonly tmpDir: string,
    private readonly sha: string,
    size: number,
    private readonly listing?: TmpListing,
  ) {
    super();
    this.holding = size;
    held += size;
  }

  /** nothing to take: a blob with a partial to resume is not fetched in memory */
  async load(): Promise<void> {}

  async recordValidator(next: SavedValidator | undefined): Promise<void> {
    this.saved = next;
  }

  /** See BlobSink.seal: the bytes written once, fsynced, before anything gives them a name in the store. */
  async seal(sha: string): Promise<string> {
    const file = path.join(this.tmpDir, taggedName(sha, SEALED_SUFFIX));
    const handle = await openInTmp(this.tmpDir, file, SEALED_FLAGS, 0o444);
    this.sealed = file;
    this.worthKeeping = false;
    try {
      await writeAllAt(handle.fd, this.writer.chunks, this.writer.pos, 0);
      umaskTakesRead ??= ((await handle.stat()).mode & 0o444) !== 0o444;
      if (umaskTakesRead) await handle.chmod(0o444);
      await handle.sync();
    } catch (err) {
      throw diskFailure(err, `writing ${file}`);
    } finally {
      await handle.close().catch(() => {});
    }
    return file;
  }

  async close(): Promise<void> {
    held -= this.holding;
    this.holding = 0;
    const { chunks, pos } = this.writer;
    this.writer.chunks = [];
    if (this.sealed !== undefined) {
      if (!this.moved) await removeFile(this.sealed).catch(() => {});
    } else if (this.worthKeeping && pos > 0) {
      await PartialBlob.keep(this.tmpDir, this.sha, chunks, pos, this.saved, this.listing);
    }
  }
}
