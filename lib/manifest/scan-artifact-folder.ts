/**
 * Manifest authoring, step one: the files of an artifact folder (regular files only; symlinks,
 * special files and unsafe or colliding names refused, all listed at once). Their sha256:
 * lib/verify/hash-artifact-files.ts; the manifest edit: ./upsert-artifact.ts.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import { checkSafeRelativePath, findCollisions } from './paths.ts';

export interface ScannedFile {
  /** POSIX path relative to the folder */
  path: string;
  abs: string;
  size: number;
}

/**
 * Every regular file below `folder`, sorted by path. Refuses (UsageError, exit 2,
 * every problem listed) symlinks, sockets/devices/FIFOs, names that are not safe
 * relative paths, names that collide on case-insensitive filesystems, and an empty folder.
 */
export async function scanArtifactFolder(folder: string): Promise<ScannedFile[]> {
  let st;
  try {
    st = await fs.stat(folder);
  } catch {
    throw new UsageError(`${folder} does not exist.`, { code: 'ENOFOLDER', hint: `Give the folder that holds the artifact files, e.g. \`${commandFor('manifest add', './out/student_ja --id student/v1_ja')}\`.` });
  }
  if (!st.isDirectory()) {
    throw new UsageError(`${folder} is not a folder.`, { code: 'ENOFOLDER', hint: 'Give the folder that holds the artifact files (one artifact = one folder).' });
  }
  const files: ScannedFile[] = [];
  const problems: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      const abs = path.join(dir, e.name);
      const unsafe = checkSafeRelativePath(childRel);
      if (unsafe) {
        problems.push(`${JSON.stringify(childRel)} ${unsafe}`);
        continue;
      }
      const lst = await fs.lstat(abs);
      if (lst.isSymbolicLink()) {
        problems.push(`${childRel} is a symlink (to ${await fs.readlink(abs).catch(() => '?')}): symlinks dangle inside containers; copy the real file in instead`);
      } else if (lst.isDirectory()) {
        await walk(abs, childRel);
      } else if (lst.isFile()) {
        files.push({ path: childRel, abs, size: lst.size });
      } else {
        problems.push(`${childRel} is not a regular file (socket, device or FIFO)`);
      }
    }
  };
  await walk(folder, '');
  for (const c of findCollisions(files.map((f) => f.path))) {
    problems.push(`${c.paths.map((p) => JSON.stringify(p)).join(' and ')} are the same name on case-insensitive filesystems (macOS, Windows): rename one`);
  }
  if (problems.length) {
    throw new UsageError(`Cannot add ${folder}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      code: 'EUNSAFEFOLDER',
      hint: 'Fix every listed file in the folder, then run the command again. Nothing was written.',
      data: { folder, problems },
    });
  }
  if (files.length === 0) throw new UsageError(`${folder} holds no files.`, { code: 'EEMPTYFOLDER', hint: 'An artifact needs at least one file.' });
  return files;
}
