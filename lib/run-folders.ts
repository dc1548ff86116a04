import { ensureRealDir } from './fs-safe.ts';

/**
 * ensureRealDir for one run's many files in a few folders (a Store's fetches, an Installer's
 * stagings): a folder checked in the last `recheckMs` is taken as it was. Even the remembered
 * check's one lstat per file was ~10 % of a 20,000-file install's CPU (issue 15). The window
 * stays short, and per run: a folder removed meanwhile (a user's rm, an unlocked gc) is made
 * again a second later, and the next run checks every folder anew.
 */
export class RunFolders {
  private readonly checked = new Map<string, { dir: Promise<string>; at: number }>();

  constructor(private readonly recheckMs = 1000) {}

  ensure(root: string, rel: string): Promise<string> {
    const key = `${root}\0${rel}`;
    const now = Date.now();
    const hit = this.checked.get(key);
    if (hit && now - hit.at < this.recheckMs) return hit.dir;
    const dir = ensureRealDir(root, rel);
    this.checked.set(key, { dir, at: now });
    // a refusal is not remembered: the next call checks again (and throws its own error)
    dir.catch(() => {
      if (this.checked.get(key)?.dir === dir) this.checked.delete(key);
    });
    return dir;
  }
}
