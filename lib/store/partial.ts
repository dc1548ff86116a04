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
import { toDiskError } from '../errors.ts';
import { removeFile } from '../fs-atomic.ts';
import { readOwnFile } from '../fs-safe.ts';
import { taggedName, tagOwner } from '../owner.ts';
import { BlobWriter } from './blob-writer.ts';

const PARTIAL_SUFFIX = '.partial';
/**
 * `<partial>.validator`: which source the partial's bytes came from and that response's validator
 * (ETag / Last-Modified), so a resume in a later run can send If-Range. Only a hint: missing,
 * unreadable or foreign, it is ignored (the sha256 at the end decides).
 */
const VALIDATOR_SUFFIX = '.validator';
/**
 * `<partial>.prefix`: while a file is fetched in pieces, bytes past the contiguous prefix may have
 * been written out of order into a file already extended to its full size. The record says how
 * many bytes from 0 are valid (never more than are written); a resume cuts the partial back to it.
 * Unreadable or garbled: nothing of the partial is trusted.
 */
const PREFIX_SUFFIX = '.prefix';
/** how often a live fetch refreshes its partial's mtime; well below the default partialMinAgeMs */
const PARTIAL_HEARTBEAT_MS = 10_000;
/** written without following a link, and without blocking on a FIFO in the way */
const RECORD_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;

export interface SavedValidator {
  source: string;
  validator: string;
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

export class PartialBlob {
  /** the valid bytes from 0 are hashed as they are written; undefined until load() */
  writer: BlobWriter | undefined;
  /** where the partial's bytes came from, sent back as If-Range on every resume */
  saved: SavedValidator | undefined;
  /**
   * Did the bytes come from more than one response (an earlier run's prefix, or a resume in this
   * run)? Then a mismatch may be the splice's fault (the file changed on the server between the
   * responses, a stale mirror answered first): worth one download from byte 0.
   */
  spliced = false;
  /** bytes reused from an earlier partial (re-hashed) */
  resumedFrom = 0;
  /** removed on close() unless it holds bytes worth resuming */
  worthKeeping = true;
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(
    private readonly tmpDir: string,
    public file: string,
    public handle: fs.FileHandle,
  ) {
    this.heartbeat = setInterval(() => {
      const now = new Date();
      this.handle.utimes(now, now).catch(() => {});
    }, PARTIAL_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Claim the largest abandoned partial for `sha` in `tmpDir` (else a fresh name) and open it. */
  static async claim(tmpDir: string, sha: string, minAgeMs: number): Promise<PartialBlob> {
    const file = await claimName(tmpDir, sha, minAgeMs);
    return new PartialBlob(tmpDir, file, await openPartial(tmpDir, file, 0));
  }

  /** Take what the partial holds: only its recorded prefix after a fetch in pieces, re-hashed, and its validator. */
  async load(limit: number): Promise<void> {
    const validPrefix = await this.readPrefix();
    if (validPrefix !== undefined) {
      if ((await this.handle.stat()).size > validPrefix) await this.handle.truncate(validPrefix);
      await this.clearPrefix();
    }
    this.writer = await BlobWriter.open(this.handle, limit);
    this.resumedFrom = this.writer.pos;
    this.spliced = this.resumedFrom > 0;
    this.saved = this.resumedFrom > 0 ? await this.readValidator() : undefined;
  }

  /** bytes of the file present from 0 */
  get pos(): number {
    return this.writer!.pos;
  }

  /** Start the file over from byte 0. */
  async restart(): Promise<void> {
    await this.writer!.reset();
    this.spliced = false;
  }

  /** The validator to send to `source` with a resume: only one it gave for the bytes we hold. */
  validatorFor(source: string): string | undefined {
    return this.pos > 0 && this.saved?.source === source ? this.saved.validator : undefined;
  }

  /** Record where the bytes now come from (undefined: no validator describes them). */
  async recordValidator(next: SavedValidator | undefined): Promise<void> {
    if (next?.validator === this.saved?.validator && next?.source === this.saved?.source) return;
    this.saved = next;
    await writeRecord(this.file + VALIDATOR_SUFFIX, next && `${JSON.stringify(next)}\n`);
  }

  /** Record that bytes [0, n) are valid (while pieces are written out of order). */
  async savePrefix(n: number): Promise<void> {
    await fs.writeFile(this.file + PREFIX_SUFFIX, `${n}\n`, { mode: 0o600, flag: RECORD_FLAGS });
  }

  async clearPrefix(): Promise<void> {
    await removeFile(this.file + PREFIX_SUFFIX);
  }

  /** Is the open file still the one at our name, with exactly `size` bytes? */
  async stillOurs(size: number): Promise<boolean> {
    try {
      const [mine, there] = await Promise.all([this.handle.stat(), fs.lstat(this.file)]);
      return mine.ino === there.ino && mine.dev === there.dev && mine.size === size;
    } catch {
      return false;
    }
  }

  /**
   * Another process took our partial for abandoned (this one stalled past the minimum age) and
   * claimed it: its bytes are no longer ours to vouch for. Go on in a fresh partial from byte 0.
   */
  async startFresh(sha: string): Promise<void> {
    await this.writer?.close();
    await this.handle.close().catch(() => {});
    this.file = path.join(this.tmpDir, taggedName(sha, PARTIAL_SUFFIX));
    this.saved = undefined;
    this.handle = await openPartial(this.tmpDir, this.file, fsc.O_EXCL);
    this.writer = await BlobWriter.open(this.handle, 0);
  }

  /** Wait for the writer (a write may still be in flight on this descriptor), then close the file. */
  async closeFiles(): Promise<void> {
    await this.writer?.close();
    await this.handle.close();
  }

  /** Stop, close, and remove the partial and its records unless it is worth keeping. Never throws. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.writer?.close();
    await this.handle.close().catch(() => {});
    if (this.worthKeeping) return;
    await removeFile(this.file).catch(() => {});
    await writeRecord(this.file + VALIDATOR_SUFFIX, undefined);
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

/** A validator record written (or removed, `text` undefined). A hint only: without it, a resume in a later run just sends no If-Range. */
async function writeRecord(file: string, text: string | undefined): Promise<void> {
  try {
    if (text !== undefined) await fs.writeFile(file, text, { mode: 0o600, flag: RECORD_FLAGS });
    else await removeFile(file);
  } catch {
    // a hint only
  }
}

async function openPartial(tmpDir: string, file: string, flags: number): Promise<fs.FileHandle> {
  try {
    return await fs.open(file, flags | fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw toDiskError(err, `creating a temporary file in ${tmpDir}`) ?? err;
  }
}

/** Rename the largest abandoned partial for `sha` to our own unique name (`<sha>.<host>.<pid>.<random>.partial`); else just that name. */
async function claimName(tmpDir: string, sha: string, minAgeMs: number): Promise<string> {
  const mine = path.join(tmpDir, taggedName(sha, PARTIAL_SUFFIX));
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
