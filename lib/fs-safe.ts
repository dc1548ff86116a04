/**
 * modelmount's own folders and files — `<hostDir>/.modelmount/…`, `<cache>/tmp`,
 * `<cache>/sha256/…`, the state files — are never reached through a symlink and never block:
 * - a folder or file there that is a symlink is refused (exit 5, naming the link and the fix),
 *   never followed, never replaced: modelmount never makes links, so none is provably ours;
 * - files are opened with O_NONBLOCK|O_NOFOLLOW and checked with fstat: a FIFO, socket or device
 *   is refused at once instead of blocking the run;
 * - reads have the stall bound HTTP has (lib/stall.ts);
 * - folders are created one level at a time: Node's recursive mkdir loops forever where mkdir
 *   says ENOENT for a parent that exists (/proc);
 * - a folder's mode is what the user's umask leaves of 0777, as with `mkdir -p` (a store shared by
 *   a group under umask 002 stays group-writable); in the host folder, read and search for everyone
 *   are kept whatever the umask (makeDir).
 */
import { constants as fsc, type BigIntStats, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { toDiskError } from './disk-failure.ts';
import { folderMoveWords, folderSetting, type DiskFolder, type FolderOrigin } from './disk-folder.ts';
import { DiskError, ModelmountError } from './errors.ts';
import { idleDeadline, STALL_DEFAULTS, seconds, type IdleDeadline } from './stall.ts';
import { relativeInside } from './path-inside.ts';

/** What a non-regular file is, for messages: "a FIFO", "a socket", … */
export function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a folder';
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'a special file';
}

export function linkRefused(p: string): DiskError {
  return new DiskError(`${p} is a symlink; modelmount only writes into real folders it created and never follows a link there.`, {
    code: 'ENOTREALDIR',
    data: { path: p },
    hint: `Remove the link (\`rm ${p}\`: its target is left as it is) or move it away, then run again; modelmount creates a real folder or file in its place.`,
  });
}

function notRegular(p: string, kind: string): DiskError {
  return new DiskError(`${p} is not a regular file (${kind}); modelmount keeps only regular files there and will not read it.`, {
    code: 'ENOTFILE',
    data: { path: p, kind },
    hint: `Remove it (\`rm ${p}\`) and run again; modelmount writes a new one.`,
  });
}

/**
 * `what` (e.g. "Reading", "Checking the files in") `p`, in `folder`, got no answer for `ms`: exit 5.
 * The hint names what moves `folder` (lib/disk-folder.ts folderSetting); unset: nothing.
 */
export function stalled(what: string, p: string, ms: number, folder?: DiskFolder | FolderOrigin): DiskError {
  return new DiskError(`${what} ${p} stalled: no answer for ${seconds(ms)} (a hung network mount?).`, {
    code: 'ESTALLED',
    data: { path: p },
    hint: `Check the filesystem that holds it (\`ls\` it, remount a hung NFS share)${folder ? `, or ${folderMoveWords(`point ${folderSetting(folder)} elsewhere`, 'elsewhere')}` : ''}.`,
  });
}

export interface StallDeadlineOptions {
  /** no answer for this long is a stall; default STALL_DEFAULTS.idleMs */
  idleMs?: number;
  /** the run's signal: an abort ends every wait at once, with its reason */
  signal?: AbortSignal;
  /** the folder `p` is in, for the hint (stalled) */
  folder?: DiskFolder | FolderOrigin;
}

/**
 * The one stall deadline of the waits on `p` (lib/stall.ts idleDeadline): none answering for
 * `idleMs` is an ESTALLED saying "`what` `p` stalled" (stalled), and `signal` ends them at once.
 */
export function stallDeadline(what: string, p: string, opts: StallDeadlineOptions = {}): IdleDeadline {
  const idleMs = opts.idleMs ?? STALL_DEFAULTS.idleMs;
  return idleDeadline(idleMs, () => stalled(what, p, idleMs, opts.folder), { signal: opts.signal });
}

/**
 * Create `dir` and its missing parents one level at a time. A level that cannot be created
 * (under /proc, a parent that is a file) fails at once with exit 5, its hint naming how to move
 * `folder` (lib/disk-folder.ts).
 */
export async function makeDirs(dir: string, folder?: DiskFolder): Promise<void> {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  for (let p = abs; ; p = path.dirname(p)) {
    try {
      const st = await fs.stat(p);
      if (!st.isDirectory()) throw cannotCreate(abs, p, Object.assign(new Error('not a folder'), { code: 'ENOTDIR' }), folder);
      break;
    } catch (err) {
      if (err instanceof DiskError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw toDiskError(err, `creating ${abs}`, folder) ?? cannotCreate(abs, p, err, folder);
      if (path.dirname(p) === p) throw cannotCreate(abs, p, err, folder);
      missing.unshift(p);
    }
  }
  for (const p of missing) {
    try {
      await makeDir(p, folder);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await fs.stat(p).catch(() => undefined))?.isDirectory()) continue;
      throw toDiskError(err, `creating ${abs}`, folder) ?? cannotCreate(abs, p, err, folder);
    }
  }
}

/**
 * Create the folder `p` (its parent exists). The user's umask decides its mode, as with `mkdir -p`:
 * a store shared by a group (umask 002) gets folders the group can write to. In the host folder
 * (`folder` 'host') containers read what modelmount makes, as whatever user they run as: read and
 * search for everyone are added back where the umask took them (077 gives drwx------), as the
 * files there are 0444. A bind mount needs them on the mounted folder and below only; every level
 * modelmount makes there gets them alike.
 */
async function makeDir(p: string, folder: DiskFolder | undefined): Promise<void> {
  await fs.mkdir(p, { mode: 0o777 });
  if (folder !== 'host') return;
  // the folder just made, through a handle: a link put in its place meanwhile is refused (ELOOP), never followed
  const dir = await fs.open(p, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
  try {
    const { mode } = await dir.stat();
    if ((mode & 0o755) !== 0o755) await dir.chmod((mode & 0o7777) | 0o755);
  } finally {
    await dir.close();
  }
}

function cannotCreate(dir: string, at: string, err: unknown, folder: DiskFolder | undefined): DiskError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new DiskError(`Cannot create ${at === dir ? dir : `${at} (for ${dir})`}: ${code}.`, {
    code: 'EMKDIR',
    cause: err,
    data: { path: dir },
    hint: `${path.dirname(at)} does not accept new folders (a system or virtual filesystem such as /proc, or a file where a folder should be). ${folderMoveWords(`Choose another folder (${folderSetting(folder)})`, 'elsewhere')}.`,
  });
}

/**
 * Folders ensureRealDir walked and found real, by `root` and `rel`: the identity (device, inode,
 * birth time) the last level had then. Installing many files asks for the same few folders once per
 * file; a walk costs one lstat per level plus a stat of the root (~6 per file, measured in issue 15).
 *
 * Why one lstat of the last level keeps the guarantee: the check was always check-then-use (the
 * caller writes by path after the walk), so a link swapped in meanwhile was never caught; what the
 * walk proves is that the folder the caller writes into was reached through real folders only. A
 * remembered folder whose lstat (not following a final link) still shows a folder with the same
 * device, inode and birth time IS that folder: bytes land only where the walk checked. A level
 * replaced by a link elsewhere, a folder removed and made again, or a file in its place, shows
 * another identity or none and gets the full walk (which refuses the link or makes the folder).
 * What a hit does not notice: a level moved away and replaced by a link back to the same folder;
 * writes still land in the checked folder. Without birth times (some filesystems give 0) an inode
 * number can come back for a new folder, so nothing is remembered there.
 */
const checkedDirs = new Map<string, string>();

/**
 * A folder's identity (device, inode, birth time) for remembering that it was checked: the same
 * identity later IS that folder. Undefined for anything else, and without birth times (an inode
 * number can come back for a new folder there).
 */
export function folderIdentity(st: BigIntStats): string | undefined {
  return st.isDirectory() && st.birthtimeNs > 0n ? `${st.dev}:${st.ino}:${st.birthtimeNs}` : undefined;
}

/**
 * Make sure `rel` (POSIX segments) below `root` consists of real folders, creating the missing
 * ones; `root` itself (and its parents) may be links, which the user chose. Returns the path.
 */
export async function ensureRealDir(root: string, rel: string, folder?: DiskFolder): Promise<string> {
  const segs = rel.split('/').filter(Boolean);
  const key = `${root}\0${segs.join('/')}`;
  const known = segs.length > 0 ? checkedDirs.get(key) : undefined;
  if (known !== undefined) {
    const dir = path.join(root, ...segs);
    const st = await fs.lstat(dir, { bigint: true }).catch(() => undefined);
    if (st && folderIdentity(st) === known) return dir;
    checkedDirs.delete(key);
  }
  await makeDirs(root, folder);
  let current = root;
  let st: BigIntStats | undefined;
  for (const seg of segs) {
    current = path.join(current, seg);
    st = undefined;
    try {
      st = await fs.lstat(current, { bigint: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw toDiskError(err, `creating ${current}`, folder) ?? err;
    }
    if (!st) {
      try {
        await makeDir(current, folder);
        continue;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw toDiskError(err, `creating ${current}`, folder) ?? err;
        st = await fs.lstat(current, { bigint: true }); // made by another run meanwhile
      }
    }
    if (st.isSymbolicLink()) throw linkRefused(current);
    if (!st.isDirectory()) {
      throw new DiskError(`${current} is not a folder; modelmount only writes into real folders it created.`, {
        code: 'ENOTREALDIR',
        data: { path: current },
        hint: `Move ${current} away (modelmount manages the folder it is in), then run again.`,
      });
    }
  }
  if (segs.length > 0) {
    // the last level was just made: its identity is one lstat away (once per folder and process)
    st ??= await fs.lstat(current, { bigint: true }).catch(() => undefined);
    const id = st && folderIdentity(st);
    if (id !== undefined) checkedDirs.set(key, id);
  }
  return current;
}

/** Refuse a symlink at any level of `p` below `root` (what exists of it; `root` itself may be a link). */
export async function refuseLinksBelow(root: string, p: string): Promise<void> {
  const rel = relativeInside(root, p);
  if (!rel) return;
  let current = root;
  for (const seg of rel.split(path.sep)) {
    current = path.join(current, seg);
    let st;
    try {
      st = await fs.lstat(current);
    } catch {
      return; // missing: nothing below it either
    }
    if (st.isSymbolicLink()) throw linkRefused(current);
  }
}

/** Owned by this user and writable by nobody else (always true where there are no users, e.g. Windows). */
export function isPrivate(st: { uid: number; mode: number }): boolean {
  const uid = process.getuid?.();
  return uid === undefined || (st.uid === uid && (st.mode & 0o022) === 0);
}

export interface ReadOwnFileOptions {
  /** no folder below this one on the file's path may be a link (default: the file's own folder) */
  realBelow?: string;
  idleMs?: number;
  /** the folder the file is in, for an error's hint */
  folder?: DiskFolder;
  /** Ctrl+C (or a lost run lock): the read is given up at once with the abort's reason */
  signal?: AbortSignal;
  /**
   * For a cache whose contents are trusted as they are (lib/manifest/parsed-cache.ts): the file
   * reads as missing (undefined) unless it and its folder (a real folder, not a link) are owned
   * by this user and writable by nobody else, and it is at most `maxBytes`.
   */
  privateCache?: { maxBytes: number };
}

/**
 * Read a file modelmount keeps for itself (a state file, an install record): undefined when it
 * does not exist. Never follows a link (below `realBelow`, default: the file's own folder), never
 * blocks on a FIFO, and gives up after the stall bound.
 */
export async function readOwnFile(file: string, opts: ReadOwnFileOptions = {}): Promise<Buffer | undefined> {
  return (await readOwnFileAndStats(file, opts))?.bytes;
}

/** readOwnFile, with the stats of the file read (the fstat of its open handle, no second look by path). */
export async function readOwnFileAndStats(file: string, opts: ReadOwnFileOptions = {}): Promise<{ bytes: Buffer; stats: Stats } | undefined> {
  const read = async (): Promise<{ bytes: Buffer; stats: Stats } | undefined> => {
    await refuseLinksBelow(opts.realBelow ?? path.dirname(file), file);
    if (opts.privateCache) {
      const dir = await fs.lstat(path.dirname(file)).catch(() => undefined);
      if (!dir?.isDirectory() || !isPrivate(dir)) return undefined;
    }
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      if (code === 'ELOOP') throw linkRefused(file);
      if (code === 'ENXIO') throw notRegular(file, 'a socket');
      throw toDiskError(err, `reading ${file}`, opts.folder) ?? err;
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw notRegular(file, kindOf(st));
      if (opts.privateCache && (!isPrivate(st) || st.size > opts.privateCache.maxBytes)) return undefined;
      return { bytes: await handle.readFile(), stats: st };
    } finally {
      await handle.close().catch(() => {});
    }
  };
  return stallDeadline('Reading', file, opts).bound(read());
}

/**
 * A file the user points at (the manifest, a Compose file) that is not a regular file: a FIFO, a
 * socket, a device or a folder. Callers turn it into their own error (exit 2 for the manifest,
 * exit 7 for a Compose file); `kind` says what it is ("a FIFO", …).
 */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTFILE';
  constructor(
    readonly file: string,
    readonly kind: string,
  ) {
    super(`${file} is not a regular file (${kind})`);
  }
}

/**
 * Open a file the user chose (symlinks followed: they are the user's) without ever blocking on
 * it: O_NONBLOCK, then fstat. A FIFO, socket, device or folder throws NotRegularFileError at once;
 * Node's errors (ENOENT, EACCES, …) pass through. `check` sees the file's stats before any read
 * (e.g. a size limit). Returns the contents as UTF-8.
 */
export async function readRegularFile(file: string, check?: (st: Stats) => void): Promise<string> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') throw new NotRegularFileError(file, 'a socket');
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new NotRegularFileError(file, kindOf(st));
    check?.(st);
    return await handle.readFile('utf8');
  } finally {
    await handle.close().catch(() => {});
  }
}

/**
 * Whether `err`, from a bound read of a file the user chose (readRegularFile under stallDeadline),
 * says the file cannot be read — Node's fs error (ENOENT, EACCES, ELOOP, EIO, …) or
 * NotRegularFileError — rather than that the wait ended: a stall (ESTALLED) or the abort of the
 * run's `signal`, which a caller must pass on, never take for an unreadable file.
 */
export function isUnreadableFile(err: unknown, signal?: AbortSignal): boolean {
  if (err instanceof NotRegularFileError) return true;
  if (err instanceof ModelmountError || signal?.aborted) return false;
  return typeof (err as NodeJS.ErrnoException | undefined)?.code === 'string';
}

/**
 * Whether each of `files` that exists is a regular file; the first that is not throws
 * NotRegularFileError. Opens nothing. Each look is under the stall bound and `opts.signal`.
 */
export async function refuseSpecialFiles(files: readonly string[], opts: StallDeadlineOptions = {}): Promise<void> {
  for (const f of files) {
    const st = await stallDeadline('Looking at', f, opts)
      .bound(fs.stat(f))
      .catch((err: unknown) => {
        if (!isUnreadableFile(err, opts.signal)) throw err;
        return undefined; // not there or not readable: Compose says so
      });
    if (st && !st.isFile()) throw new NotRegularFileError(f, kindOf(st));
  }
}
