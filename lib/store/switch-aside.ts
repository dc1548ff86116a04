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
 * The sweep runs when a run stages a file in the host folder; gc settles a dead run's folder the
 * same way, since a run with nothing to stage never would (lib/gc/run-gc.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../fs-atomic.ts';
import { ensureRealDir, refuseLinksBelow } from '../fs-safe.ts';
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

/** What became (or, `dryRun`, would become) of one previous file in a dead run's aside folder. */
export interface AsideFate {
  /** where it belongs in the host folder */
  dest: string;
  /**
   * 'put back' at `dest`, which was missing; 'kept' below .modelmount/kept (at `at`), as it cannot go
   * back; 'removed', as `dest` holds a file again (the switch of it was done); 'left' where it is
   * (`at`), as keeping it failed: the folder stays for the next sweep, with every file in it
   */
  fate: 'put back' | 'kept' | 'removed' | 'left';
  at?: string;
}

/**
 * Settle what a dead run left in its aside folder `dir`: each previous file goes back to its
 * destination while that is missing, is kept below .modelmount/kept if it cannot go back, and goes
 * with the folder when its destination is a file again; the folder is removed once nothing in it
 * must stay (a removal that fails is thrown). `dryRun`: only say what would become of each.
 */
export async function settleAside(hostDir: string, dir: string, dryRun = false): Promise<AsideFate[]> {
  // a link (or a file) at that name is only a name: nothing below it is walked
  if (!(await fs.lstat(dir)).isDirectory()) {
    if (!dryRun) await fs.rm(dir, { force: true });
    return [];
  }
  const fates: (AsideFate & { file: string })[] = [];
  for (const rel of await filesBelow(dir)) {
    const file = path.join(dir, ...rel);
    const dest = path.join(hostDir, ...rel);
    const back = await putBack(hostDir, file, rel, dryRun).catch(() => undefined);
    if (back) fates.push({ dest, fate: back, file });
    else if (dryRun) fates.push({ dest, fate: 'kept', file });
    else {
      // stays where it is if keeping fails too: the next sweep tries again
      const kept = await keepBackup(hostDir, rel.slice(0, -1).join('/'), rel.at(-1)!, file).catch(() => undefined);
      fates.push(kept ? { dest, fate: 'kept', at: kept, file } : { dest, fate: 'left', at: file, file });
    }
  }
  const left = !dryRun && fates.some((f) => f.fate === 'left');
  if (!dryRun && !left) await fs.rm(dir, { recursive: true, force: true });
  return fates.map(({ file, ...f }) => (left && f.fate === 'removed' ? { ...f, fate: 'left', at: file } : f));
}

/**
 * The previous file at `file` back at its destination (`rel` in the host folder) if that is missing
 * ('put back'); 'removed' when a file is there (the switch of this one was done: it goes with the
 * folder). Undefined or thrown: it cannot go back (its folder gone, which is not made anew; a link
 * on the way; something else there). `dryRun`: nothing moves.
 */
async function putBack(hostDir: string, file: string, rel: string[], dryRun: boolean): Promise<AsideFate['fate'] | undefined> {
  const dest = path.join(hostDir, ...rel);
  if (!(await fs.lstat(path.dirname(dest)).catch(() => undefined))?.isDirectory()) return undefined;
  await refuseLinksBelow(hostDir, path.dirname(dest));
  const there = await fs.lstat(dest).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : err));
  if (there !== undefined) return !(there instanceof Error) && there.isFile() ? 'removed' : undefined;
  if (dryRun) return 'put back';
  await fs.rename(file, dest);
  await fsyncDir(path.dirname(dest));
  return 'put back';
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
