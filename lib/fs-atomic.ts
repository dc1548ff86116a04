/**
 * Small filesystem helpers shared by every writer: a file is either the old
 * version or the complete new one, never half of either.
 */
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DiskFolder } from './disk-folder.ts';
import { ensureRealDir, linkRefused, makeDirs, readOwnFile, type ReadOwnFileOptions } from './fs-safe.ts';
import { taggedName } from './owner.ts';

export interface OwnFileOptions {
  /**
   * The file is modelmount's own (a state file, an install record): no folder below this one on
   * its path, nor the file, may be a symlink (refused, exit 5); missing folders are created real.
   */
  realBelow?: string;
  /** the folder the file is in, for an error's hint (lib/disk-folder.ts) */
  folder?: DiskFolder;
}

export interface WriteAtomicOptions extends OwnFileOptions {
  /**
   * false: skip the fsyncs (of the file, and of its folder after the rename), for a cache: a
   * crash may lose the new file or leave it torn, which its reader must take as a miss. Default true.
   */
  durable?: boolean;
}

/** Write `data` to `file` through a unique temp file in the same folder, fsync, rename. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644, opts: WriteAtomicOptions = {}): Promise<void> {
  const durable = opts.durable ?? true;
  if (opts.realBelow !== undefined) {
    await ensureRealDir(opts.realBelow, path.relative(opts.realBelow, path.dirname(file)).split(path.sep).join('/'), opts.folder);
    if ((await fs.lstat(file).catch(() => undefined))?.isSymbolicLink()) throw linkRefused(file);
  } else {
    await makeDirs(path.dirname(file), opts.folder);
  }
  const tmp = path.join(path.dirname(file), taggedName(path.basename(file), '.tmp'));
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
    await handle.writeFile(data);
    if (durable) await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, file);
  } catch (err) {
    await handle?.close().catch(() => {});
    await removeFile(tmp).catch(() => {});
    throw err;
  }
  if (durable) await fsyncDir(path.dirname(file));
}

/** Make a rename durable. Best effort: some filesystems refuse to open folders for fsync. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, fsc.O_RDONLY);
    await handle.sync();
  } catch {
    // not supported here (e.g. some network filesystems): the rename itself is still atomic
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** A JSON file modelmount keeps for itself (never through a link, never blocking: lib/fs-safe.ts); undefined when missing. */
export async function readJsonIfExists<T>(file: string, opts: Pick<ReadOwnFileOptions, 'realBelow' | 'folder' | 'signal'> = {}): Promise<T | undefined> {
  const bytes = await readOwnFile(file, opts);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    return undefined; // a corrupt cache is treated as empty; it is rebuilt
  }
}

/**
 * Remove the file `p` if it is there: one unlink, "not there" (ENOENT) is fine. What
 * `fs.rm(p, { force: true })` does for a file, without rimraf's lstat first (issue 15: ~0.5 s of
 * the main thread for 2,000 files). Never removes a folder (EISDIR/EPERM are thrown).
 */
export async function removeFile(p: string): Promise<void> {
  try {
    await fs.unlink(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** `p` is there, or cannot be told not to be (a permission problem, a stale mount): only ENOENT/ENOTDIR say "gone". */
export async function thereOrUnsure(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
}
