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

/** per host folder: this process's sweep of it, which every stager waits for (it may put a previous file back) */
const sweeps = new Map<string, Promise<unknown>>();

/** Who made a host temp file `<name>.<host>.<pid>.<random>.tmp`, as far as this host can tell. */
export function hostTempOwner(name: string): ReturnType<typeof tagOwner> {
  return tagOwner(name, TMP_SUFFIX);
}

/** <hostDir>/.modelmount/tmp and the names in it; undefined when it is not a real folder below a real .modelmount (never through a link) or cannot be read. */
async function tmpEntries(hostDir: string): Promise<{ dir: string; names: string[] } | undefined> {
  const dir = path.join(metaDir(hostDir), 'tmp');
  try {
    if (!(await fs.lstat(metaDir(hostDir))).isDirectory() || !(await fs.lstat(dir)).isDirectory()) return undefined;
    return { dir, names: await fs.readdir(dir) };
  } catch {
    return undefined;
  }
}

/**
 * Whether `name` in .modelmount/tmp (`dir`) is a killed run's: made by a process of this host that is
 * gone; another host's (or unnamed) once unchanged for an hour (ctime: link() updates it).
 */
async function isDeadRuns(dir: string, name: string, now: number): Promise<boolean> {
  const owner = isAsideName(name) ? asideOwner(name) : hostTempOwner(name);
  if (owner !== 'unknown') return owner === 'gone';
  const st = await fs.lstat(path.join(dir, name)).catch(() => undefined);
  return st !== undefined && now - st.ctimeMs >= FOREIGN_TMP_MAX_AGE_MS;
}

/** The aside folders killed runs left in <hostDir>/.modelmount/tmp (lib/store/switch-aside.ts), for settleAside. */
export async function deadAsides(hostDir: string, now = Date.now()): Promise<string[]> {
  const tmp = await tmpEntries(hostDir);
  const out: string[] = [];
  for (const name of tmp?.names ?? []) if (isAsideName(name) && (await isDeadRuns(tmp!.dir, name, now))) out.push(path.join(tmp!.dir, name));
  return out;
}

/**
 * Remove what killed runs left in <hostDir>/.modelmount/tmp: a hardlink is only a name, but a
 * copy to another filesystem can be gigabytes (isDeadRuns says whose is whose).
 * A switch's aside folder is settled instead (settleAside): what it holds may be the previous
 * version of a destination the killed run left missing. Once per host folder and process; best effort.
 */
export async function sweepHostTemps(hostDir: string, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  const tmp = await tmpEntries(hostDir);
  for (const name of tmp?.names ?? []) {
    const p = path.join(tmp!.dir, name);
    if (!(await isDeadRuns(tmp!.dir, name, now))) continue;
    if (isAsideName(name)) {
      // its previous files go back (or are kept) first: one may be its destination's only version
      const fates = await settleAside(hostDir, p).catch(() => undefined);
      if (fates && !fates.some((f) => f.fate === 'left')) removed.push(name);
      continue;
    }
    try {
      await fs.rm(p, { force: true, recursive: true });
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
  // every caller waits for the one sweep, not only the first: a file switched in while a dead run's
  // previous file is being put back would be replaced by it
  let sweep = sweeps.get(hostDir);
  if (!sweep) sweeps.set(hostDir, (sweep = sweepHostTemps(hostDir).catch(() => {})));
  await sweep;
  return tmpDir;
}
