/**
 * A previous version that a failed switch could not put back (restoreBackup false) may be the
 * last name of its bytes. Its backup lives in <hostDir>/.modelmount/tmp, which every later run
 * sweeps, so it is given a name there that nothing of modelmount removes (not the sweep, not gc):
 * `<hostDir>/.modelmount/kept/<artifact id>/<path>.<UTC time>`, until the user deals with it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DiskError } from '../errors.ts';
import { fsyncDir } from '../fs-atomic.ts';
import { ensureRealDir } from '../fs-safe.ts';
import { keptRelDir } from '../layout.ts';
import { shellQuote } from '../shell.ts';
import { NAME_MAX_BYTES, truncateUtf8 } from '../owner.ts';

/** `20261130T201000Z`: sorts by time, no characters a shell or a file system minds */
function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/**
 * Give `backup` (of `filePath` in `artifactId`) a second name below .modelmount/kept and return it;
 * the temp name is then only a name, removed as usual. A hardlink on the same file system: no byte
 * copied, and never over another file (link() fails on an existing name, where rename() replaces it).
 */
export async function keepBackup(hostDir: string, artifactId: string, filePath: string, backup: string, now = new Date()): Promise<string> {
  const rel = path.posix.join(keptRelDir(), artifactId, filePath);
  const dir = await ensureRealDir(hostDir, path.posix.dirname(rel));
  for (let n = 0; ; n++) {
    // the name shortened like a temp name's, so a 255-byte file name can be kept too
    const tail = `.${stamp(now)}${n ? `.${n}` : ''}`;
    const kept = path.join(dir, `${truncateUtf8(path.posix.basename(rel), NAME_MAX_BYTES - tail.length)}${tail}`);
    try {
      await fs.link(backup, kept);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && n < 100) continue;
      throw err;
    }
    await fsyncDir(dir);
    return kept;
  }
}

/** A file switched in whose previous version could not be put back: where that version is now (`kept`: by keepBackup). */
export function backupNotPutBack(dest: string, at: string, kept: boolean): DiskError {
  const restore = `To restore it, move away what is at ${dest}, then \`mv ${shellQuote(at)} ${shellQuote(dest)}\``;
  return new DiskError(`${dest} could not be put back to its previous version: that version is kept at ${at}.`, {
    hint: kept
      ? `${restore}. modelmount never removes what is in ${path.dirname(at)}: delete it yourself once it is not needed.`
      : `${restore} before the next run, which removes what this one left in ${path.dirname(at)}.`,
  });
}
