/**
 * The partial download of one blob: <cache>/tmp/<sha>.<host>.<pid>.<random>.partial, with its
 * side records, the open handle, and the BlobWriter that hashes every byte of it in one pass.
 *
 * Resume: an interrupted transfer leaves the partial behind. The next fetch claims it (atomic
 * rename to its own unique name, so two processes never share one) and re-hashes its bytes
 * (never trusting a prefix blindly). While a fetch owns a partial it keeps its mtime fresh, so
 * other processes never take it for abandoned.
 */
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { diskFailure } from '../disk-failure.ts';
import { removeFile } from '../fs-atomic.ts';
import { readOwnFile } from '../fs-safe.ts';
import { taggedName } from '../owner.ts';
import { claimName, PARTIAL_SUFFIX, PREFIX_SUFFIX, VALIDATOR_SUFFIX, type TmpListing } from './claim-partial.ts';
import { BlobSink, type SavedValidator } from './blob-sink.ts';
import { BlobWriter, writeAllAt } from './blob-writer.ts';

/**
 * Below this size a validator record is written only when the partial is kept (close), not at the
 * start of every response: for a small file it is two file writes per blob for a hint that matters
 * only after a kill -9, and then only for a few KiB (issue 15: 20,000 small files).
 */
const EAGER_RECORD_MIN_SIZE = 1024 * 1024;
/** how often a live fetch refreshes its partial's mtime; well below the default partialMinAgeMs */
const PARTIAL_HEARTBEAT_MS = 10_000;
/** written without following a link, and without blocking on a FIFO in the way */
const RECORD_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;

export class PartialBlob extends BlobSink {
  writer: BlobWriter | undefined;
  /**
   * Records that may exist next to the partial: a claimed one may have both; a fresh one has none
   * until one is written, so nothing is read or removed for it (each miss was a failed syscall).
   */
  private readonly mayHave = { validator: true, prefix: true };
  /** a validator not yet written (a small file: written only if the partial is kept) */
  private unwritten = false;
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(
    private readonly tmpDir: string,
    public file: string,
    public handle: fs.FileHandle,
    private readonly listing: TmpListing | undefined,
  ) {
    super();
    this.heartbeat = setInterval(() => {
      const now = new Date();
      this.handle.utimes(now, now).catch(() => {});
    }, PARTIAL_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /**
   * Claim the largest abandoned partial for `sha` in `tmpDir` (else a fresh name) and open it.
   * `listing`: the folder's names read once for the run, instead of a readdir per blob.
   */
  static async claim(tmpDir: string, sha: string, minAgeMs: number, listing?: TmpListing): Promise<PartialBlob> {
    const { file, claimed } = await claimName(tmpDir, sha, minAgeMs, listing);
    const partial = new PartialBlob(tmpDir, file, await openPartial(tmpDir, file, claimed ? 0 : fsc.O_EXCL), listing);
    if (!claimed) partial.mayHave.validator = partial.mayHave.prefix = false;
    return partial;
  }

  /**
   * Leave `len` bytes received elsewhere (lib/store/memory-blob.ts) as a fresh partial of `sha`
   * for a later resume, with their validator. Never throws: a partial is only a head start.
   */
  static async keep(tmpDir: string, sha: string, bytes: Buffer[], len: number, saved: SavedValidator | undefined, listing?: TmpListing): Promise<void> {
    const file = path.join(tmpDir, taggedName(sha, PARTIAL_SUFFIX));
    let handle: fs.FileHandle;
    try {
      handle = await openPartial(tmpDir, file, fsc.O_EXCL);
    } catch {
      return;
    }
    try {
      await writeAllAt(handle.fd, bytes, len, 0);
    } catch {
      // what was written is a valid prefix (re-hashed on resume), or nothing
    } finally {
      await handle.close().catch(() => {});
    }
    if (saved) await writeRecord(file + VALIDATOR_SUFFIX, `${JSON.stringify(saved)}\n`);
    listing?.add(path.basename(file));
  }

  /** Take what the partial holds: only its recorded prefix after a fetch in pieces, re-hashed, and its validator. */
  async load(limit: number): Promise<void> {
    this.small = limit < EAGER_RECORD_MIN_SIZE;
    const validPrefix = this.mayHave.prefix ? await this.readPrefix() : undefined;
    if (validPrefix !== undefined) {
      if ((await this.handle.stat()).size > validPrefix) await this.handle.truncate(validPrefix);
      await this.clearPrefix();
    }
    this.writer = await BlobWriter.open(this.handle, limit);
    this.resumedFrom = this.writer.pos;
    this.spliced = this.resumedFrom > 0;
    this.saved = this.resumedFrom > 0 ? await this.readValidator() : undefined;
  }

  private small = false;

  /** Record where the bytes now come from (undefined: no validator describes them). */
  async recordValidator(next: SavedValidator | undefined): Promise<void> {
    if (next?.validator === this.saved?.validator && next?.source === this.saved?.source) return;
    this.saved = next;
    // a small file's record is written by close() if the partial is kept; meanwhile an older
    // record (a claimed partial's) must not describe the new bytes
    this.unwritten = next !== undefined && this.small;
    await this.writeValidator(this.unwritten ? undefined : next);
  }

  private async writeValidator(next: SavedValidator | undefined): Promise<void> {
    if (next === undefined && !this.mayHave.validator) return;
    this.mayHave.validator = !(await writeRecord(this.file + VALIDATOR_SUFFIX, next && `${JSON.stringify(next)}\n`)) || next !== undefined;
  }

  /** Record that bytes [0, n) are valid (while pieces are written out of order). */
  async savePrefix(n: number): Promise<void> {
    this.mayHave.prefix = true;
    await fs.writeFile(this.file + PREFIX_SUFFIX, `${n}\n`, { mode: 0o600, flag: RECORD_FLAGS });
  }

  async clearPrefix(): Promise<void> {
    if (!this.mayHave.prefix) return;
    await removeFile(this.file + PREFIX_SUFFIX);
    this.mayHave.prefix = false;
  }

  /** See BlobSink.seal: fsync (after any background flush, whose error counts), check the name is still ours, 0444, close. */
  async seal(sha: string): Promise<string | undefined> {
    const size = this.pos;
    try {
      await this.writer!.sync();
    } catch (err) {
      throw diskFailure(err, `writing ${this.file} to disk`);
    }
    if (!(await this.stillOurs(size))) {
      await this.startFresh(sha);
      return undefined;
    }
    try {
      await this.handle.chmod(0o444);
    } catch (err) {
      throw diskFailure(err, `making ${this.file} read-only`);
    }
    await this.closeFiles();
    this.worthKeeping = false;
    return this.file;
  }

  /** Is the open file still the one at our name, with exactly `size` bytes? */
  private async stillOurs(size: number): Promise<boolean> {
    try {
      // the open file's identity is the writer's (fstat at open); the name's size is the file's
      const mine = this.writer!.file;
      const there = await fs.lstat(this.file);
      return mine.ino === there.ino && mine.dev === there.dev && there.size === size;
    } catch {
      return false;
    }
  }

  /**
   * Another process took our partial for abandoned (this one stalled past the minimum age) and
   * claimed it: its bytes are no longer ours to vouch for. Go on in a fresh partial from byte 0.
   */
  private async startFresh(sha: string): Promise<void> {
    await this.writer?.close();
    await this.handle.close().catch(() => {});
    this.file = path.join(this.tmpDir, taggedName(sha, PARTIAL_SUFFIX));
    this.saved = undefined;
    this.unwritten = false;
    this.mayHave.validator = this.mayHave.prefix = false;
    this.handle = await openPartial(this.tmpDir, this.file, fsc.O_EXCL);
    this.writer = await BlobWriter.open(this.handle, 0);
  }

  /** Wait for the writer (a write may still be in flight on this descriptor), then close the file. */
  private async closeFiles(): Promise<void> {
    await this.writer?.close();
    await this.handle.close();
  }

  /** Stop, close, and remove the partial and its records unless it is worth keeping. Never throws. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.writer?.close();
    await this.handle.close().catch(() => {});
    if (this.worthKeeping) {
      if (this.unwritten) await this.writeValidator(this.saved);
      this.listing?.add(path.basename(this.file));
      return;
    }
    if (!this.moved) await removeFile(this.file).catch(() => {});
    await this.writeValidator(undefined);
    await this.clearPrefix().catch(() => {});
  }

  private async readValidator(): Promise<SavedValidator | undefined> {
    try {
      const v = JSON.parse((await readOwnFile(this.file + VALIDATOR_SUFFIX))?.toString('utf8') ?? '') as Partial<SavedValidator>;
      return typeof v.source === 'string' && typeof v.validator === 'string' ? { source: v.source, validator: v.validator } : undefined;
    } catch {
      return undefined;
    }
  }

  /** How much of the partial is valid by its `.prefix` record: undefined without one, 0 if garbled. */
  private async readPrefix(): Promise<number | undefined> {
    let text: string | undefined;
    try {
      text = (await readOwnFile(this.file + PREFIX_SUFFIX))?.toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return 0;
    }
    if (text === undefined) return undefined;
    return /^\d+\n$/.test(text) ? Number(text.trim()) : 0;
  }
}

/**
 * A validator record written (or removed, `text` undefined); false if that failed. A hint only:
 * without it, a resume in a later run just sends no If-Range.
 */
async function writeRecord(file: string, text: string | undefined): Promise<boolean> {
  try {
    if (text !== undefined) await fs.writeFile(file, text, { mode: 0o600, flag: RECORD_FLAGS });
    else await removeFile(file);
    return true;
  } catch {
    return false; // a hint only
  }
}

/** Create (or, without O_EXCL in `flags`, open) `file` in the store's tmp folder, never through a link. */
export async function openInTmp(tmpDir: string, file: string, flags: number, mode: number): Promise<fs.FileHandle> {
  try {
    return await fs.open(file, flags | fsc.O_CREAT | fsc.O_NOFOLLOW, mode);
  } catch (err) {
    throw diskFailure(err, `creating a temporary file in ${tmpDir}`);
  }
}

function openPartial(tmpDir: string, file: string, flags: number): Promise<fs.FileHandle> {
  return openInTmp(tmpDir, file, flags | fsc.O_RDWR, 0o600);
}
