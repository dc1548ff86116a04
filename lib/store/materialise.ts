/**
 * Put a verified store blob at its place in the host folder: hardlink, else
 * reflink, else a copy that is hashed while it is written (lib/store/link-or-copy.ts). Never a symlink
 * (it would dangle inside the container). The new file is prepared under
 * <hostDir>/.modelmount/tmp (not mounted into any container) and renamed over
 * the destination, so a container sees the old file or the new one, never half.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { diskFailure, toDiskError } from '../disk-failure.ts';
import { DiskError, ModelmountError } from '../errors.ts';
import { mapLimit } from '../concurrency.ts';
import { fsyncDir, removeFile } from '../fs-atomic.ts';
import type { RunFolders } from '../run-folders.ts';
import type { FileEntry } from '../manifest/schema.ts';
import { formatBytes } from '../format.ts';
import { hostTmpName, prepareHostTmpDir } from './host-temps.ts';
import { cannotHardlink, linkOrCopy, type CopySource, type MaterialiseMethod } from './link-or-copy.ts';
import type { SwitchAside } from './switch-aside.ts';

const STORE_CHANGED =
  'The copy in the store changed after it was verified (a disk fault, or something wrote to it). Nothing of this artifact was installed. Run the same command again: the store copy is checked, removed and downloaded anew.';

/** A store blob that is not what the manifest says when it is copied. */
const FROM_STORE: CopySource = { where: 'the store', hint: STORE_CHANGED };

/** Why a file in the host folder could not be installed: the disk (EIO, EFBIG) or something modelmount does not own in the way; exit 5 with the path, not an internal error. */
function hostFailure(where: string, err: unknown): Error {
  // ours already (a stall, an abort) or no errno at all (a bug): passed on as it is, not called a disk fault
  if (err instanceof ModelmountError || !(err instanceof Error)) return err as Error;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || err.name === 'AbortError') return err;
  if (code === 'EIO' || code === 'EFBIG') {
    // the disk (or a size limit), not something in the way
    return diskFailure(err, `installing ${where}`, { untouched: 'the previous install is untouched', folder: 'host' });
  }
  return new DiskError(`Cannot use ${where} (${code}).`, {
    code: 'ENOTREALDIR',
    cause: err,
    hint: `Something inside the host folder is not what modelmount made there (a file where a folder should be?). Move it away and run again.`,
  });
}

/** A verified copy (or link) of a blob, ready under <hostDir>/.modelmount/tmp to replace `dest`. */
export interface StagedFile {
  tmp: string;
  dest: string;
  method: MaterialiseMethod;
}

/**
 * Prepare the bytes of `blob` for `dest` (inside hostDir) without touching `dest`: a hardlink, a
 * reflink or a verified copy under <hostDir>/.modelmount/tmp. placeStaged() then renames it over
 * `dest`; discardStaged() removes it. A folder in the way of `dest` is refused here, before any
 * file of the artifact replaces anything; `destChecked`: the caller refuses it itself before its
 * first rename (the installer looks at every destination then anyway: one lstat less per file).
 * `folders`: the run's checked folders (an Installer's), for many files.
 */
export async function stageFile(
  hostDir: string, blob: string, dest: string, expected: FileEntry, opts: { destChecked?: boolean; folders?: RunFolders } = {},
): Promise<StagedFile> {
  const { destChecked = false, folders } = opts;
  const tmpDir = await prepareHostTmpDir(hostDir, folders);
  if (!destChecked) {
    const existing = await fs.lstat(dest).catch(() => undefined);
    if (existing?.isDirectory()) throw folderInTheWay(dest);
  }
  const tmp = path.join(tmpDir, hostTmpName(path.basename(dest)));
  try {
    const method = await linkOrCopy(blob, tmp, expected, FROM_STORE);
    return { tmp, dest, method };
  } catch (err) {
    await removeFile(tmp).catch(() => {});
    if (err instanceof ModelmountError) throw err;
    throw toDiskError(err, `installing ${dest} (${formatBytes(expected.size)})`, 'host') ?? hostFailure(dest, err);
  }
}

export function folderInTheWay(dest: string): DiskError {
  return new DiskError(`${dest} is a folder where the manifest expects a file.`, {
    code: 'ENOTFILE',
    hint: `Remove ${dest} (inside the host folder modelmount manages) and run again.`,
  });
}

/**
 * Rename a staged file over its destination: a container sees the old file or the new one, never
 * half. When the destination already is the staged inode (another run may have made it so at any
 * moment), rename() does nothing and leaves the staged name: it is removed after the rename, or,
 * with `leaveName`, by the caller's dropStagedLeftovers() for many files at once (one readdir
 * instead of one nearly always failing unlink per file).
 */
export async function placeStaged(staged: StagedFile, onRenamed?: () => void, leaveName = false): Promise<void> {
  try {
    await fs.rename(staged.tmp, staged.dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') throw folderInTheWay(staged.dest);
    throw toDiskError(err, `installing ${staged.dest}`, 'host') ?? hostFailure(staged.dest, err);
  }
  // the destination changed: a caller that puts things back must know it even if the rest fails
  onRenamed?.();
  if (!leaveName) await removeFile(staged.tmp);
}

/** staged files placed, discarded or put back at once (each a few syscalls: thread-pool round trips) */
export const SWITCH_IN_FLIGHT = 16;

/**
 * Remove the staged names placeStaged(…, leaveName) left because the destination already was their
 * inode (another run, unlocked, placed it in between): one readdir per folder. Only a hardlink can
 * be left so (a copy is a fresh inode). Best effort; other runs' names are never touched.
 */
export async function dropStagedLeftovers(placed: Iterable<StagedFile>): Promise<void> {
  const byDir = new Map<string, Set<string>>();
  for (const s of placed) {
    const dir = path.dirname(s.tmp);
    let names = byDir.get(dir);
    if (!names) byDir.set(dir, (names = new Set()));
    names.add(path.basename(s.tmp));
  }
  for (const [dir, ours] of byDir) {
    const present = await fs.readdir(dir).catch(() => [] as string[]);
    await mapLimit(
      present.filter((n) => ours.has(n)),
      SWITCH_IN_FLIGHT,
      (n) => removeFile(path.join(dir, n)).catch(() => {}),
    );
  }
}

/** Remove staged files that will not be placed. Best effort. */
export async function discardStaged(staged: Iterable<StagedFile>): Promise<void> {
  await mapLimit([...staged], SWITCH_IN_FLIGHT, (s) => removeFile(s.tmp).catch(() => {}));
}

/**
 * The previous file at a destination, kept reachable in the switch's aside folder in
 * <hostDir>/.modelmount/tmp (lib/store/switch-aside.ts) while its artifact is switched, so a
 * failure half-way can put it back (restoreBackup), and so can the next run after a kill.
 */
export interface Backup {
  /** its name in the aside folder */
  path: string;
  /** the destination whose previous file it keeps */
  dest: string;
  /** the previous file is at `path`: a hardlink from the start, a file that moves once moveAside() moved it */
  held: boolean;
}

/**
 * Keep the file at `dest` (if any) reachable while an artifact's files are switched: a hardlink
 * in the switch's aside folder `aside` (no byte copied, `dest` never missing). Where the host folder
 * has no hardlinks the file itself moves to that name, by moveAside() right before the new one is
 * renamed in: a rename within the host folder (.modelmount/tmp is on the destination's filesystem,
 * as the staged file is), so no byte of a multi-GB file is copied and `dest` is missing only between
 * two renames (a run killed there: the next run's sweep puts it back, lib/store/switch-aside.ts).
 * `st`: the lstat of `dest` the caller just made (undefined: nothing there).
 */
export async function backupDest(aside: SwitchAside, dest: string, st: { isFile(): boolean } | undefined): Promise<Backup | undefined> {
  if (!st?.isFile()) return undefined;
  await prepareHostTmpDir(aside.hostDir, aside.folders);
  const backup = await aside.pathFor(dest);
  try {
    await fs.link(dest, backup);
    return { path: backup, dest, held: true };
  } catch (err) {
    if (cannotHardlink(err)) return { path: backup, dest, held: false };
    throw toDiskError(err, `keeping the previous ${dest} until the new version is in place`, 'host') ?? hostFailure(dest, err);
  }
}

/**
 * Move the previous file of a backup that moves (no hardlinks: backupDest) to its aside name; call
 * placeStaged() right after. True when it moved (the destination is missing until placeStaged);
 * false when there is nothing to move: a hardlinked backup, or a file gone since it was looked at.
 * rename() replaces whatever is at the aside name (a link planted there is never followed).
 */
export async function moveAside(backup: Backup | undefined): Promise<boolean> {
  if (!backup || backup.held) return false;
  // only a file moves: a folder made there since the destination was looked at would be moved
  // into .modelmount/tmp and later swept away with it
  const st = await fs.lstat(backup.dest).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw toDiskError(err, `keeping the previous ${backup.dest} until the new version is in place`, 'host') ?? hostFailure(backup.dest, err);
  });
  if (!st) return false;
  if (!st.isFile()) throw folderInTheWay(backup.dest);
  try {
    await fs.rename(backup.dest, backup.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw toDiskError(err, `keeping the previous ${backup.dest} until the new version is in place`, 'host') ?? hostFailure(backup.dest, err);
  }
  backup.held = true;
  return true;
}

/** Put the previous file back (or remove the new one when there was none). Best effort: false when the backup could not be put back (keep it then). */
export async function restoreBackup(dest: string, backup: Backup | undefined): Promise<boolean> {
  if (!backup?.held) {
    await removeFile(dest).catch(() => {});
    return true;
  }
  return fs.rename(backup.path, dest).then(() => true, () => false);
}

/** Make `dest` (inside hostDir) hold the bytes of `blob`, on its own. Returns how. */
export async function materialiseFile(hostDir: string, blob: string, dest: string, expected: FileEntry): Promise<MaterialiseMethod> {
  const staged = await stageFile(hostDir, blob, dest, expected);
  try {
    await placeStaged(staged);
  } catch (err) {
    await discardStaged([staged]);
    throw err;
  }
  await fsyncDir(path.dirname(dest));
  return staged.method;
}
