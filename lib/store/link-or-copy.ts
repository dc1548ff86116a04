/**
 * A file's bytes at a second name: a hardlink where the filesystem makes one, else a reflink,
 * else a copy that is hashed while it is written. One place decides which link() errors mean
 * "no hardlink here" (cannotHardlink): another filesystem, one without hardlinks (CIFS without
 * unix extensions, many FUSE filesystems: EPERM, ENOTSUP), too many links.
 */
import { constants as fsc, createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { IntegrityError } from '../errors.ts';
import { removeFile } from '../fs-atomic.ts';
import type { FileEntry } from '../manifest/schema.ts';
import { BlobWriter, pipeToWriter } from './blob-writer.ts';

export type MaterialiseMethod = 'hardlink' | 'reflink' | 'copy';

const LINK_UNSUPPORTED = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** link() failed because a hardlink cannot be made here (another filesystem, no hardlinks, too many links): fall back to a copy. */
export function cannotHardlink(err: unknown): boolean {
  return LINK_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '');
}

/** What a copy that does not match the manifest is reported as: where `from` is ("the store") and what to do. */
export interface CopySource {
  where: string;
  hint: string;
}

/**
 * `from`'s bytes at `to` (which must not exist), `expected` by the manifest: a hardlink, else a
 * reflink, else a verified copy (copyVerified); a reflink or copy is made 0444, as a link shares
 * `from`'s mode. Returns how.
 */
export async function linkOrCopy(from: string, to: string, expected: FileEntry, source: CopySource): Promise<MaterialiseMethod> {
  try {
    await fs.link(from, to);
    return 'hardlink';
  } catch (err) {
    if (!cannotHardlink(err)) throw err;
  }
  let method: MaterialiseMethod = 'reflink';
  try {
    await fs.copyFile(from, to, fsc.COPYFILE_FICLONE_FORCE | fsc.COPYFILE_EXCL);
  } catch {
    await removeFile(to);
    await copyVerified(from, to, expected, source);
    method = 'copy';
  }
  await fs.chmod(to, 0o444);
  return method;
}

/**
 * Copy `from` to `to`, hashing the copy as it is written: the same BlobWriter as downloads
 * (batched writes on a libuv thread, the hash on a worker that reads back the page cache), so the
 * main thread only moves buffers. A copy that is not what the manifest says (`from` changed since
 * it was verified) is an IntegrityError naming `source`.
 */
async function copyVerified(from: string, to: string, expected: FileEntry, source: CopySource): Promise<void> {
  const src = await fs.open(from, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  // read-write: the hash worker reads back what is written
  const out = await fs.open(to, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, 0o644).catch(async (err) => {
    await src.close();
    throw err;
  });
  let writer: BlobWriter | undefined;
  let actual: { size: number; sha256?: string } | undefined;
  try {
    const { size } = await src.stat();
    // a file of another size is not worth copying (nor hashing)
    if (size !== expected.size) throw new IntegrityError(from, expected, { size }, source.where, source.hint);
    const w = (writer = await BlobWriter.open(out, expected.size));
    try {
      await pipeToWriter(createReadStream('', { fd: src, highWaterMark: 1024 * 1024, autoClose: false }), w, {
        check: (chunk) => {
          if (w.pos + chunk.length > expected.size) throw new TooLong();
        },
      });
    } catch (err) {
      if (!(err instanceof TooLong)) throw err;
      actual = { size: (await fs.lstat(from)).size }; // it grew while it was copied
    }
    if (!actual) {
      const sha256 = await w.digest();
      actual = { size: w.pos, sha256 };
      if (sha256 === expected.sha256 && w.pos === expected.size) await out.sync();
    }
  } finally {
    await writer?.close();
    await out.close();
    await src.close().catch(() => {}); // a destroyed read stream may have closed it already
  }
  if (actual.size !== expected.size || actual.sha256 !== expected.sha256) {
    throw new IntegrityError(from, expected, actual, source.where, source.hint);
  }
}

class TooLong extends Error {}
