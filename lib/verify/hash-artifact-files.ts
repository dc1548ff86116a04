/**
 * The sha256 of an artifact folder's files for `manifest add` and `init` (bounded parallel, with
 * progress); a file that changes while it is hashed is refused.
 */
import fs from 'node:fs/promises';
import { mapLimit } from '../concurrency.ts';
import { UsageError } from '../errors.ts';
import type { ScannedFile } from '../manifest/scan-artifact-folder.ts';
import type { FileEntry } from '../manifest/schema.ts';
import { sha256File } from './hash.ts';

export interface HashProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
}

/** sha256 of every file, at most `jobs` at a time; a file that changes while it is hashed is an error. */
export async function hashArtifactFiles(
  files: readonly ScannedFile[],
  opts: { jobs: number; signal?: AbortSignal; onProgress?: (p: HashProgress) => void },
): Promise<FileEntry[]> {
  const totalBytes = files.reduce((s, f) => s + f.size, 0);
  const progress: HashProgress = { files: 0, totalFiles: files.length, bytes: 0, totalBytes };
  opts.onProgress?.({ ...progress });
  return mapLimit(files, opts.jobs, async (f) => {
    const before = await fs.lstat(f.abs);
    const sha256 = await sha256File(f.abs, opts.signal);
    const after = await fs.lstat(f.abs);
    if (!after.isFile() || after.size !== before.size || after.mtimeMs !== before.mtimeMs || after.ino !== before.ino) {
      throw new UsageError(`${f.path} changed while it was being hashed.`, { code: 'ECHANGED', hint: 'Wait until whatever writes the folder has finished, then run again.' });
    }
    progress.files++;
    progress.bytes += f.size;
    opts.onProgress?.({ ...progress });
    return { path: f.path, size: after.size, sha256 };
  });
}
