/**
 * The lock folder itself: created with its holder.json already inside (built under a unique name,
 * renamed into place, so a lock never exists without its holder), and removed only under
 * `<lock>.reclaim`, a second folder taken with mkdir, and only if it is still the lock that was
 * inspected: a fresh lock another waiter took a moment earlier is never deleted.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import type { Clock } from '../clock.ts';
import { ownerTag } from '../owner.ts';
import { HOLDER_FILE, readHolderIn, type LockHolder } from './holder.ts';

export function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** mkdir with the holder inside: build it under a unique name, rename it into place (false: somebody holds the lock). */
export async function createLockDir(lockDir: string, holder: LockHolder, clock: Clock): Promise<boolean> {
  const tmp = `${lockDir}.${ownerTag()}.tmp`;
  await fs.mkdir(tmp);
  try {
    await fs.writeFile(path.join(tmp, HOLDER_FILE), `${JSON.stringify({ ...holder, since: new Date(clock.now()).toISOString() })}\n`);
    const now = new Date(clock.now());
    await fs.utimes(tmp, now, now);
    await fs.rename(tmp, lockDir);
    return true;
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    const code = errno(err);
    // rename onto an existing, non-empty directory: somebody holds the lock
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/**
 * Run `fn` holding `<lock>.reclaim`, the right to remove `lockDir` (false: another run holds it
 * right now). A `.reclaim` left by a process killed within those few milliseconds is itself
 * removed once it is `staleMs` old.
 */
async function underReclaim(lockDir: string, staleMs: number, clock: Clock, fn: () => Promise<void>): Promise<boolean> {
  const guard = `${lockDir}.reclaim`;
  try {
    await fs.mkdir(guard);
  } catch (err) {
    if (errno(err) !== 'EEXIST') throw err;
    const st = await fs.stat(guard).catch(() => undefined);
    if (st && st.mtimeMs < clock.now() - staleMs) await fs.rmdir(guard).catch(() => {});
    return false;
  }
  try {
    await fn();
  } finally {
    await fs.rmdir(guard).catch(() => {});
  }
  return true;
}

/** Remove `lockDir` if `still(holder, mtimeMs)` says it is still the one to remove ('busy': another run is removing or reclaiming it). */
export async function removeLockIf(
  lockDir: string,
  staleMs: number,
  clock: Clock,
  still: (holder: LockHolder | undefined, mtimeMs: number) => boolean,
): Promise<'removed' | 'kept' | 'busy'> {
  let removed = false;
  const ran = await underReclaim(lockDir, staleMs, clock, async () => {
    let st: Stats;
    try {
      st = await fs.stat(lockDir);
    } catch {
      return;
    }
    const holder = await readHolderIn(lockDir);
    if (!still(holder, st.mtimeMs)) return;
    const grave = `${lockDir}.${ownerTag()}.released`;
    await fs.rename(lockDir, grave);
    await fs.rm(grave, { recursive: true, force: true });
    removed = true;
  });
  return !ran ? 'busy' : removed ? 'removed' : 'kept';
}
