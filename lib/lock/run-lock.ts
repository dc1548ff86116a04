/**
 * The run lock: one modelmount run at a time per store folder and per host
 * folder. `<dir>/.modelmount.lock` is a directory (mkdir/rename are atomic, also
 * on NFS) holding `holder.json` (holder.ts), so a second run can say whom it
 * waits for.
 *
 * Our own, small: lock-dir.ts creates the lock with its holder inside and
 * removes only the lock it inspected; staleness.ts keeps a held lock fresh
 * (heartbeat; the run is aborted when the lock is no longer its own) and
 * reclaims an abandoned one; release-at-exit.ts removes it at exit. This module
 * takes the locks, waits for their holders, and runs the caller's work under them.
 *
 * The lock is a courtesy, not the foundation: locks do not hold on every
 * network filesystem, so the store and the installer stay correct without it
 * (unique temp names, partials claimed by rename, verified blobs linked into
 * place, an existing correct target counting as success).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../clock.ts';
import type { DiskFolder } from '../disk-folder.ts';
import { toDiskError } from '../disk-failure.ts';
import { LockError } from '../errors.ts';
import { makeDirs } from '../fs-safe.ts';
import { lockPath } from '../layout.ts';
import { describeHolder, makeHolder, readLockHolder, type LockHolder } from './holder.ts';
import { createLockDir, removeLockIf } from './lock-dir.ts';
import { forgetAtExit, releaseAtExit } from './release-at-exit.ts';
import { DEFAULT_STALE_MS, MIN_STALE_MS, reclaimIfAbandoned, startHeartbeat } from './staleness.ts';

export interface RunLockOptions {
  /** wait for the holder (true) or fail at once with LockError, exit 6 (false) */
  wait: boolean;
  /** see DEFAULT_STALE_MS; at least MIN_STALE_MS; every process sharing a folder should use the same value */
  staleMs?: number;
  /** called when the run starts waiting, and again whenever the holder changes: "<dir> is in use by pid … on host … (command), since …" */
  onWait?: (holder: string) => void;
  /** stops waiting (and is passed on to `fn` combined with the lock's own signal) */
  signal?: AbortSignal;
  /** what this run is, for other runs' messages (default: this process's argv) */
  command?: string;
  /** longest pause between two attempts while waiting (default 500 ms) */
  maxPollMs?: number;
  /** time for staleness, heartbeats and waits (default: the system's) */
  clock?: Clock;
}

/** A folder to lock, and (for an error's hint) which one it is: the host folder or the store. */
export type LockFolder = string | { dir: string; folder: DiskFolder };

async function prepareDir(dir: string, folder: DiskFolder | undefined): Promise<string> {
  await makeDirs(dir, folder);
  try {
    return await fs.realpath(dir);
  } catch (err) {
    throw toDiskError(err, `creating ${dir} to lock it`, folder) ?? err;
  }
}

type Release = () => Promise<void>;

async function acquire(
  dir: string,
  opts: RunLockOptions & { staleMs: number },
  holder: LockHolder,
  clock: Clock,
  onCompromised: (err: Error) => void,
  folder: DiskFolder | undefined,
): Promise<Release> {
  const lockDir = lockPath(dir);
  const maxPoll = opts.maxPollMs ?? 500;
  let poll = Math.min(100, maxPoll);
  let lastReported: string | undefined;
  for (;;) {
    opts.signal?.throwIfAborted();
    let created: boolean;
    try {
      created = await createLockDir(lockDir, holder, clock);
    } catch (err) {
      throw toDiskError(err, `locking ${dir}`, folder) ?? err;
    }
    if (created) {
      releaseAtExit(lockDir, holder.token);
      const stopHeartbeat = startHeartbeat(lockDir, holder.token, opts.staleMs, clock, onCompromised);
      return async () => {
        stopHeartbeat();
        forgetAtExit(lockDir);
        try {
          // a waiter checking the lock holds `.reclaim` for a moment: try again
          while ((await removeLockIf(lockDir, opts.staleMs, clock, (h) => h?.token === holder.token)) === 'busy') await clock.sleep(10);
        } catch {
          // the lock folder went away or cannot be removed: the next run reclaims it (our pid will be gone)
        }
      };
    }
    if (await reclaimIfAbandoned(lockDir, opts.staleMs, clock)) continue;
    const current = await readLockHolder(dir);
    if (!current && !(await fs.stat(lockDir).then(() => true, () => false))) continue; // released meanwhile
    if (!opts.wait) {
      throw new LockError(`Another modelmount run holds the lock on ${dir}: ${describeHolder(current)}.`, {
        hint: `Wait for it to finish, or run again without --no-wait to wait for it. A lock whose holder was killed is reclaimed automatically ${Math.round(opts.staleMs / 1000)} s after its last heartbeat; if no modelmount is running, remove ${lockPath(dir)}.`,
        data: { dir, lockPath: lockPath(dir), holder: current ? { ...current, token: undefined } : null },
      });
    }
    const key = current?.token ?? 'unknown';
    if (key !== lastReported) {
      lastReported = key;
      opts.onWait?.(`${dir} is in use by ${describeHolder(current)}`);
    }
    const jitter = 0.8 + Math.random() * 0.4;
    await clock.sleep(Math.round(poll * jitter), opts.signal);
    poll = Math.min(maxPoll, Math.round(poll * 1.5));
  }
}

/**
 * Run `fn` holding the run lock on every folder of `dirs` (created if missing;
 * locked in sorted order of their real paths, so two runs never deadlock).
 * `fn` receives a signal that aborts with a LockError if a lock is lost
 * (another run judged it stale: this process stalled for longer than `staleMs`),
 * combined with `opts.signal`. Not re-entrant: do not nest runs on one folder.
 */
export async function withRunLock<T>(dirs: readonly LockFolder[], opts: RunLockOptions, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const staleMs = Math.max(MIN_STALE_MS, opts.staleMs ?? DEFAULT_STALE_MS);
  const clock = opts.clock ?? systemClock;
  const prepared = await Promise.all(
    dirs.map(async (d) => {
      const { dir, folder } = typeof d === 'string' ? { dir: d, folder: undefined } : d;
      return [await prepareDir(path.resolve(dir), folder), folder] as const;
    }),
  );
  const folderOf = new Map(prepared);
  const real = [...folderOf.keys()].sort();
  const lost = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, lost.signal]) : lost.signal;
  const holder = makeHolder(opts.command);
  const releases: Release[] = [];
  try {
    for (const dir of real) {
      releases.push(
        await acquire(dir, { ...opts, staleMs }, holder, clock, (err) => {
          if (lost.signal.aborted) return;
          lost.abort(
            new LockError(`Lost the run lock on ${dir}: ${err.message}.`, {
              hint: `This run stalled for more than ${Math.round(staleMs / 1000)} s (suspended machine or overloaded host?) and another run may have taken over. Run the command again.`,
              data: { dir, lockPath: lockPath(dir) },
            }),
          );
        }, folderOf.get(dir)),
      );
    }
    return await fn(signal);
  } finally {
    for (const release of releases.reverse()) await release();
  }
}
