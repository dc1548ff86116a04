import { performance } from 'node:perf_hooks';
import type { DiskFolder } from './disk-folder.ts';
import { ensureRealDir } from './fs-safe.ts';

/**
 * ensureRealDir for one run's many files in a few folders (a Store's fetches, an Installer's
 * stagings): a folder checked in the last `recheckMs` is taken as it was. Even the remembered
 * check's one lstat per file was ~10 % of a 20,000-file install's CPU (issue 15). The check was
 * always check-then-use (lib/fs-safe.ts); the window grows to at most a second, inside folders
 * modelmount owns, and per run: the next run checks every folder anew. A folder removed within
 * the window (an unlocked gc's rmdir of an empty blob folder) fails what is done in it with
 * ENOENT; use() then checks (makes) it again and tries once more.
 */
export class RunFolders {
  private readonly checked = new Map<string, { dir: Promise<string>; at: number }>();

  constructor(private readonly recheckMs = 1000) {}

  /** `folder`: the one `root` is, for an error's hint (lib/disk-folder.ts) */
  ensure(root: string, rel: string, folder?: DiskFolder): Promise<string> {
    const key = `${root}\0${rel}`;
    // a monotonic clock: a wall clock stepped back would stretch the window
    const now = performance.now();
    const hit = this.checked.get(key);
    if (hit && now - hit.at < this.recheckMs) return hit.dir;
    const dir = ensureRealDir(root, rel, folder);
    this.checked.set(key, { dir, at: now });
    // a refusal is not remembered: the next call checks again (and throws its own error)
    dir.catch(() => {
      if (this.checked.get(key)?.dir === dir) this.checked.delete(key);
    });
    return dir;
  }

  /** `work(dir)` in the checked folder; an ENOENT from it checks the folder again (made anew if it went) and tries once more */
  async use<T>(root: string, rel: string, work: (dir: string) => Promise<T>, folder?: DiskFolder): Promise<T> {
    try {
      return await work(await this.ensure(root, rel, folder));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.checked.delete(`${root}\0${rel}`);
      return work(await this.ensure(root, rel, folder));
    }
  }
}
