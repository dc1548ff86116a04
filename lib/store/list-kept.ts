/**
 * What is kept below <hostDir>/.modelmount/kept (lib/store/keep-backup.ts), for doctor. Only a
 * missing folder (or a file above it) means "nothing kept": any other failure to look (a folder
 * that cannot be read, a link or a file where a folder belongs) is thrown, since the folder may
 * hold the user's only copy of a previous version. Every look is under the stall bound: a hung
 * mount is an ESTALLED, not a hang; an abort of the run's signal (Ctrl+C) ends the wait at once.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DiskError, nodeErrorCode } from '../errors.ts';
import { stallDeadline } from '../fs-safe.ts';
import { keptDir, metaDir } from '../layout.ts';
import { shellQuote } from '../shell.ts';
import type { IdleDeadline } from '../stall.ts';

function unreadable(dir: string, err: unknown): DiskError {
  return new DiskError(`Listing ${dir} failed (${nodeErrorCode(err)}).`, {
    cause: err,
    data: { path: dir },
    hint: `Check that folder (\`ls -la ${shellQuote(dir)}\`) and make it readable for this user: it may hold previous versions a failed update could not put back.`,
  });
}

function notRealDir(p: string): DiskError {
  return new DiskError(`${p} is not a real folder (a link or a file); modelmount keeps previous versions only in a real folder there and never follows a link.`, {
    code: 'ENOTREALDIR',
    data: { path: p },
    hint: `Look at what it is (\`ls -la ${shellQuote(p)}\`) and move it away; previous versions may be kept in it or where it points.`,
  });
}

/**
 * A real folder: true; nothing there: false; a link, a file or an error: thrown. ENOTDIR is nothing
 * there: a folder above is not a folder (the host folder is a file, which doctor's host-folder check
 * reports), so nothing can be kept below it.
 */
async function isRealDir(p: string, deadline: IdleDeadline): Promise<boolean> {
  const st = await deadline.bound(
    fs.lstat(p).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw unreadable(p, err);
    }),
  );
  if (!st) return false;
  if (!st.isDirectory()) throw notRealDir(p);
  return true;
}

/**
 * The files kept below .modelmount/kept (absolute paths, sorted); a link there is not followed.
 * `idleMs`: how long one look may go unanswered (default: the stall bound); `signal` aborts the wait.
 */
export async function listKept(hostDir: string, opts: { idleMs?: number; signal?: AbortSignal } = {}): Promise<string[]> {
  const deadline = stallDeadline('Looking at the kept versions in', keptDir(hostDir), { idleMs: opts.idleMs, signal: opts.signal, folder: 'host' });
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await deadline.bound(
      fs.readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []; // removed meanwhile
        throw unreadable(dir, err);
      }),
    );
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  if ((await isRealDir(metaDir(hostDir), deadline)) && (await isRealDir(keptDir(hostDir), deadline))) await walk(keptDir(hostDir));
  return out.sort();
}
