/**
 * Staleness: the holder refreshes its lock's mtime every `staleMs / 4` (heartbeat) and gives the
 * lock up when it is no longer its own or could not be refreshed within `staleMs`; a lock not
 * refreshed for `staleMs` — its holder was SIGKILLed or its machine died — is reclaimed by a
 * waiter, at once when its holder is a dead process on this host.
 */
import fs from 'node:fs/promises';
import type { Clock } from '../clock.ts';
import { ownerState } from '../owner.ts';
import { readHolderIn } from './holder.ts';
import { errno, removeLockIf } from './lock-dir.ts';

/** A holder that stopped refreshing its lock for this long is presumed dead. */
export const DEFAULT_STALE_MS = 20_000;
/** the heartbeat runs every second at most: a shorter stale interval would be taken for a dead holder */
export const MIN_STALE_MS = 2_000;

/**
 * Take the lock over if its holder is gone: a process on this host that no longer runs (kill -9,
 * a crash) at once; any holder (another host's on a shared NFS store) once the lock has not been
 * refreshed for `staleMs`.
 */
export async function reclaimIfAbandoned(lockDir: string, staleMs: number, clock: Clock): Promise<boolean> {
  const r = await removeLockIf(lockDir, staleMs, clock, (h, mtimeMs) => {
    if (h?.token && ownerState(h.host, h.pid) === 'gone') return true;
    return mtimeMs < clock.now() - staleMs;
  });
  return r === 'removed';
}

/** Keep our lock fresh; report when it is no longer ours or could not be refreshed in time. */
export function startHeartbeat(lockDir: string, token: string, staleMs: number, clock: Clock, onCompromised: (err: Error) => void): () => void {
  const stop = new AbortController();
  const updateMs = Math.max(1000, Math.floor(staleMs / 4));
  let last = clock.now();
  void (async () => {
    while (!stop.signal.aborted) {
      try {
        await clock.sleep(updateMs, stop.signal);
      } catch {
        return; // stopped
      }
      const now = clock.now();
      let problem: string | undefined;
      if (now - last > staleMs) problem = `the lock was not refreshed for ${Math.round((now - last) / 1000)} s`;
      else {
        const h = await readHolderIn(lockDir);
        if (h?.token !== token) problem = 'another run took the lock over';
        else {
          try {
            await fs.utimes(lockDir, new Date(now), new Date(now));
            last = now;
          } catch (err) {
            problem = `the lock could not be refreshed (${errno(err) ?? 'error'})`;
          }
        }
      }
      if (problem && !stop.signal.aborted) {
        stop.abort();
        onCompromised(new Error(problem));
      }
    }
  })();
  return () => stop.abort();
}
