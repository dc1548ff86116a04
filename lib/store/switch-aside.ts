/**
 * Where the previous files of a switch stay reachable until it is done (lib/update/installer.ts): one
 * folder per switch, `<hostDir>/.modelmount/tmp/switch.<host>.<pid>.<random>.aside/`, holding each
 * previous file at its own path, `<artifact id>/<path>`: a hardlink, or, where the host folder has
 * none, the file itself, moved there right before the new file is renamed in (moveAside).
 *
 * The path says where each belongs. A run killed between those two renames leaves the destination
 * missing and the moved file its only version; the next run's sweep (settleAside) then puts it back,
 * as a failed switch would have, instead of deleting a dead run's temp. One whose destination is
 * a file again (the switch of that file was done) is removed, as the finished switch would have; one
 * that cannot go back (its folder gone, a link on the way) is kept below .modelmount/kept (keepBackup).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../fs-atomic.ts';
import { ensureRealDir } from '../fs-safe.ts';
import { metaDir } from '../layout.ts';
import { taggedName, tagOwner } from '../owner.ts';
import type { RunFolders } from '../run-folders.ts';
import { keepBackup } from './keep-backup.ts';

const ASIDE_SUFFIX = '.aside';

/** Whether `name` (in .modelmount/tmp) is a switch's aside folder. */
export function isAsideName(name: string): boolean {
  return name.endsWith(ASIDE_SUFFIX);
}

/** Who made the aside folder `name`, as far as this host can tell. */
export function asideOwner(name: string): ReturnType<typeof tagOwner> {
  return tagOwner(name, ASIDE_SUFFIX);
}

/** One switch's aside folder, made when the first previous file needs a place in it. */
export class SwitchAside {
  /** relative to the host folder */
  private readonly rel: string;
  private made = false;

  constructor(
    readonly hostDir: string,
    readonly folders?: RunFolders,
  ) {
    this.rel = `${path.basename(metaDir(hostDir))}/tmp/${taggedName('switch', ASIDE_SUFFIX)}`;
  }

  /** Where the previous file of `dest` (a file in the host folder) stays during the switch; its folder made. */
  async pathFor(dest: string): Promise<string> {
    const rel = path.relative(this.hostDir, dest).split(path.sep);
    const dirRel = [this.rel, ...rel.slice(0, -1)].join('/');
    this.made = true;
    const dir = await (this.folders ? this.folders.ensure(this.hostDir, dirRel, 'host') : ensureRealDir(this.hostDir, dirRel, 'host'));
    return path.join(dir, rel.at(-1)!);
  }

  /** Remove the folder once the switch is over and nothing in it must stay. Best effort. */
  async remove(): Promise<void> {
    if (this.made) await fs.rm(path.join(this.hostDir, ...this.rel.split('/')), { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * What a dead run left in its aside folder `dir`: each previous file goes back to its destination
 * while that is missing, or is kept below .modelmount/kept if it cannot go back; one whose
 * destination is a file again stays to be removed with the folder. True when nothing in it must stay.
 */
export async function settleAside(hostDir: string, dir: string): Promise<boolean> {
  // a link (or a file) at that name is only a name: nothing below it is walked
  if (!(await fs.lstat(dir)).isDirectory()) return true;
  let settled = true;
  for (const rel of await filesBelow(dir)) {
    const file = path.join(dir, ...rel);
    if (await putBack(hostDir, file, rel).catch(() => false)) continue;
    // stays where it is if that fails too: the next sweep tries again
    await keepBackup(hostDir, rel.slice(0, -1).join('/'), rel.at(-1)!, file).catch(() => (settled = false));
  }
  return settled;
}

/**
 * The previous file at `file` back at its destination (`rel` in the host folder) if that is missing:
 * true when it went back, or is not needed there (a file is there: the switch of this one was done).
 * False or thrown: it cannot go back (its folder gone, which is not made anew; a link on the way).
 */
async function putBack(hostDir: string, file: string, rel: string[]): Promise<boolean> {
  const dest = path.join(hostDir, ...rel);
  if (!(await fs.lstat(path.dirname(dest)).catch(() => undefined))?.isDirectory()) return false;
  await ensureRealDir(hostDir, rel.slice(0, -1).join('/'), 'host');
  const there = await fs.lstat(dest).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : err));
  if (there !== undefined) return !(there instanceof Error) && there.isFile();
  await fs.rename(file, dest);
  await fsyncDir(path.dirname(dest));
  return true;
}

/** The regular files below `dir`, each as its path segments. */
async function filesBelow(dir: string, prefix: string[] = []): Promise<string[][]> {
  const out: string[][] = [];
  for (const e of await fs.readdir(path.join(dir, ...prefix), { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await filesBelow(dir, [...prefix, e.name])));
    else if (e.isFile()) out.push([...prefix, e.name]);
  }
  return out;
}
