/**
 * Where a fetch meets the store folder: its temp folder, and the move of a verified file into
 * <cache>/sha256/ab/abcdef…. Neither is ever done through a link in the store's own folders.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { toDiskError } from '../disk-failure.ts';
import { folderMoveWords, folderSetting } from '../disk-folder.ts';
import { DiskError, ModelmountError } from '../errors.ts';
import { fsyncDir, removeFile } from '../fs-atomic.ts';
import { RunFolders } from '../run-folders.ts';
import { blobPath, storeTmpDir } from '../layout.ts';
import type { FileEntry } from '../manifest/schema.ts';
import { sha256File } from '../verify/hash.ts';
import { cannotHardlink } from './link-or-copy.ts';

/** <cache>/tmp, a real folder (never through a link): where partial downloads live. `folders`: the run's (a Store's). */
export async function prepareStoreTmp(cacheDir: string, folders = new RunFolders()): Promise<string> {
  const tmpDir = storeTmpDir(cacheDir);
  try {
    await folders.ensure(cacheDir, path.basename(tmpDir), 'cache');
  } catch (err) {
    throw asStoreError(err, `creating ${tmpDir}`);
  }
  return tmpDir;
}

/**
 * Make the verified, fsynced, read-only (0444), closed file `partial` (BlobSink.seal) the store's blob of `file`, durably. Returns the
 * blob's path. `deferDirSync`: the caller fsyncs the blob's folder later, once for many blobs
 * (lib/store/store.ts: before an artifact is switched in and before the run ends); else here.
 */
export async function moveIntoStore(
  partial: string, cacheDir: string, file: FileEntry, label: string,
  opts: { signal?: AbortSignal; deferDirSync?: (dir: string) => void; folders?: RunFolders } = {},
): Promise<string> {
  const { signal, deferDirSync, folders = new RunFolders() } = opts;
  const dest = blobPath(cacheDir, file.sha256);
  try {
    // never through a link at <cache>/sha256 or its shard folders
    await folders.use(cacheDir, path.relative(cacheDir, path.dirname(dest)).split(path.sep).join('/'), () => placeBlob(partial, dest, file, signal), 'cache');
  } catch (err) {
    // the bytes were right but the store would not take them: a local problem, not the source's
    throw asStoreError(err, `moving ${label} into the store ${cacheDir}`);
  }
  if (deferDirSync) deferDirSync(path.dirname(dest));
  else await fsyncDir(path.dirname(dest));
  return dest;
}

/** A store folder that cannot be used (a file where a folder should be, …): exit 5 with the path, not an internal error. */
function asStoreError(err: unknown, action: string): ModelmountError {
  if (err instanceof ModelmountError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return (
    toDiskError(err, action, 'cache') ??
    new DiskError(`Failed ${action} (${code}).`, {
      code: 'ESTORE',
      cause: err,
      hint: `Something in the store folder is not what modelmount made there (a file where a folder should be?). Remove the store folder, or ${folderMoveWords(`point ${folderSetting('cache')} elsewhere`, 'elsewhere')}, and run again.`,
    })
  );
}

/**
 * Put the verified file `partial` at `dest` in the store. Another process may have
 * placed the same blob meanwhile (no lock on this filesystem, or a run that does
 * not take it): an existing correct blob counts as success and is kept, so host
 * files already hardlinked to it stay shared with the store. A wrong one is replaced.
 */
async function placeBlob(partial: string, dest: string, file: FileEntry, signal?: AbortSignal): Promise<void> {
  try {
    await fs.link(partial, dest);
    await removeFile(partial);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      let correct = false;
      try {
        const st = await fs.lstat(dest);
        correct = st.isFile() && st.size === file.size && (await sha256File(dest, signal)) === file.sha256;
      } catch {
        // vanished or unreadable: replace it
      }
      if (correct) {
        await removeFile(partial);
        return;
      }
    } else if (!cannotHardlink(err)) {
      throw toDiskError(err, `moving ${file.path} into the store`, 'cache') ?? err;
    }
  }
  // no hardlinks here (or a wrong blob in the way): rename, which replaces atomically
  await fs.rename(partial, dest);
}
