/**
 * <hostDir>/.modelmount/tmp, where files are staged before they are renamed into place (not
 * mounted into any container): its temp names, which say who made them, and the sweep of what
 * killed runs left there.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { metaDir } from '../layout.ts';
import { taggedName, tagOwner } from '../owner.ts';
import { RunFolders } from '../run-folders.ts';
import { asideOwner, isAsideName, settleAside } from './switch-aside.ts';

const TMP_SUFFIX = '.tmp';
/** another host's temp file (shared host folder) untouched this long is taken for abandoned */
export const FOREIGN_TMP_MAX_AGE_MS = 60 * 60 * 1000;

/** `<name>.<host>.<pid>.<random>.tmp` (the name shortened to fit 255 bytes): who made it, so a dead process's leftovers can be removed. */
export function hostTmpName(base: string): string {
  return taggedName(base, TMP_SUFFIX);
}

const swept = new Set<string>();

/** Who made a host temp file `<name>.<host>.<pid>.<random>.tmp`, as far as this host can tell. */
export function hostTempOwner(name: string): ReturnType<typeof tagOwner> {
  return tagOwner(name, TMP_SUFFIX);
}

/**
 * Remove what killed runs left in <hostDir>/.modelmount/tmp: a hardlink is only a name, but a
 * copy to another filesystem can be gigabytes. Leftovers of a dead process on this host go at
 * once; another host's (or unnamed ones) once unchanged for an hour (ctime: link() updates it).
 * A switch's aside folder is settled first (lib/store/switch-aside.ts): what it holds may be the
 * previous version of a destination the killed run left missing. Once per host folder and process; best effort.
 */
export async function sweepHostTemps(hostDir: string, now = Date.now()): Promise<string[]> {
  const dir = path.join(metaDir(hostDir), 'tmp');
  const removed: string[] = [];
  let names: string[];
  try {
    // only ever inside real folders: never through a link at .modelmount or .modelmount/tmp
    if (!(await fs.lstat(metaDir(hostDir))).isDirectory() || !(await fs.lstat(dir)).isDirectory()) return removed;
    names = await fs.readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const aside = isAsideName(name);
    const owner = aside ? asideOwner(name) : hostTempOwner(name);
    let stale: boolean;
    if (owner !== 'unknown') {
      stale = owner === 'gone';
    } else {
      try {
        stale = now - (await fs.lstat(path.join(dir, name))).ctimeMs >= FOREIGN_TMP_MAX_AGE_MS;
      } catch {
        continue;
      }
    }
    if (!stale) continue;
    // a switch's previous files go back (or are kept) first: one may be its destination's only version
    if (aside && !(await settleAside(hostDir, path.join(dir, name)).catch(() => false))) continue;
    try {
      await fs.rm(path.join(dir, name), { force: true, recursive: true });
      removed.push(name);
    } catch {
      // best effort
    }
  }
  return removed;
}

/** <hostDir>/.modelmount/tmp, a real folder (never through a link), swept of dead runs' leftovers once per process. `folders`: the run's. */
export async function prepareHostTmpDir(hostDir: string, folders = new RunFolders()): Promise<string> {
  // a link at .modelmount or .modelmount/tmp is refused before anything is swept or written
  const tmpDir = await folders.ensure(hostDir, `${path.basename(metaDir(hostDir))}/tmp`, 'host');
  if (!swept.has(hostDir)) {
    swept.add(hostDir);
    await sweepHostTemps(hostDir);
  }
  return tmpDir;
}
