import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import { toDiskError } from '../../disk-failure.ts';

/** A folder's entries; none when it is missing or not a folder (gone meanwhile is not an error for gc). */
export async function readDir(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw toDiskError(err, `reading ${dir}`) ?? err;
  }
}
