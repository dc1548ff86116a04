/**
 * A previous version that a failed switch could not put back (restoreBackup false) may be the
 * last name of its bytes. Its backup lives in the switch's aside folder in <hostDir>/.modelmount/tmp,
 * which a later sweep or gc settles (removing the backup once its destination holds a file again), so
 * it is given a name that nothing of modelmount removes (not the sweep, not gc):
 * `<hostDir>/.modelmount/kept/<artifact id>/<path>.<UTC time>`, until the user deals with it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DiskError } from '../errors.ts';
import { fsyncDir, thereOrUnsure } from '../fs-atomic.ts';
import { ensureRealDir } from '../fs-safe.ts';
import { keptDir, keptRelDir } from '../layout.ts';
import { shellQuote } from '../shell.ts';
import { NAME_MAX_BYTES, truncateUtf8 } from '../owner.ts';
import { cannotHardlink } from './link-or-copy.ts';

/** `.20261130T201000Z[.<n>]`: sorts by time, no characters a shell or a file system minds; `n` when that name was taken */
function keptTail(now: Date, n: number): string {
  return `.${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}${n ? `.${n}` : ''}`;
}

/** keptTail's shape, to read a kept name back. */
const KEPT_TAIL = /\.\d{8}T\d{6}Z(?:\.\d+)?$/;

/**
 * Give `backup` (of `filePath` in `artifactId`) a second name below .modelmount/kept and return it;
 * a linked temp name is then only a name, removed as usual. A hardlink on the same file system: no byte
 * copied, and never over another file (link() fails on an existing name, where rename() replaces it);
 * where the host folder has no hardlinks, the backup itself moves there (a taken name skipped).
 */
export async function keepBackup(hostDir: string, artifactId: string, filePath: string, backup: string, now = new Date()): Promise<string> {
  const rel = path.posix.join(keptRelDir(), artifactId, filePath);
  const dir = await ensureRealDir(hostDir, path.posix.dirname(rel), 'host');
  for (let n = 0; ; n++) {
    // the name shortened like a temp name's, so a 255-byte file name can be kept too
    const tail = keptTail(now, n);
    const kept = path.join(dir, `${truncateUtf8(path.posix.basename(rel), NAME_MAX_BYTES - tail.length)}${tail}`);
    try {
      await fs.link(backup, kept);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && n < 100) continue;
      if (!cannotHardlink(err)) throw err;
      // no hardlinks here: the backup (modelmount's own temp file) moves to the kept name, no byte
      // copied; rename() would replace a file there, so a taken name is skipped (the run lock is held)
      if (await thereOrUnsure(kept)) {
        if (n < 100) continue;
        throw err;
      }
      await fs.rename(backup, kept);
    }
    await fsyncDir(dir);
    return kept;
  }
}

/**
 * Where the file kept at `kept` (a path below keptDir, as keepBackup names it) was: its `dest` in
 * the host folder, or `why` that cannot be told from its name (shortened to fit, or not a name
 * keepBackup gives). Its artifact id and path need not be told apart: their join is the place.
 */
export function keptOrigin(hostDir: string, kept: string): { dest: string } | { why: string } {
  const rel = path.relative(keptDir(hostDir), kept).split(path.sep);
  const name = rel.at(-1) ?? '';
  const base = name.replace(KEPT_TAIL, '');
  if (rel.length < 2 || rel[0] === '..' || base === name || base === '' || base === '.' || base === '..') {
    return { why: 'its name is not <artifact id>/<path>.<UTC time>, as modelmount names a kept version, so where it was is unknown' };
  }
  // keepBackup cut the base to at most NAME_MAX_BYTES with its tail, up to 3 bytes short of it (a UTF-8 character not cut in two)
  if (Buffer.byteLength(name) > NAME_MAX_BYTES - 4) {
    return { why: `its name may have been shortened to fit ${NAME_MAX_BYTES} bytes, so its original name in ${path.join(hostDir, ...rel.slice(0, -1))} cannot be told from it` };
  }
  return { dest: path.join(hostDir, ...rel.slice(0, -1), base) };
}

/** How to put the version kept at `at` back at `dest`: one wording, in the failure and in doctor's fix. */
export function restoreAdvice(at: string, dest: string): string {
  return `move away what is at ${dest}, then \`mv ${shellQuote(at)} ${shellQuote(dest)}\``;
}

/**
 * A file switched in whose previous version could not be put back: where that version is now
 * (`kept`: by keepBackup; else in the switch's aside folder, which the next sweep or gc settles by
 * settleAside's rule, lib/store/switch-aside.ts).
 */
export function backupNotPutBack(hostDir: string, dest: string, at: string, kept: boolean): DiskError {
  const restore = `To restore it, ${restoreAdvice(at, dest)}`;
  return new DiskError(`${dest} could not be put back to its previous version: that version is kept at ${at}.`, {
    hint: kept
      ? `${restore}. modelmount never removes what is in ${path.dirname(at)}: delete it yourself once it is not needed.`
      : `${restore} before the next run that installs a file into this host folder, or \`gc\`: each removes it if ${dest} then holds a file, ` +
        `puts it back there if ${dest} is missing, and otherwise keeps it below ${keptDir(hostDir)} (or, should that fail, leaves it where it is).`,
  });
}
