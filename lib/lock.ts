/**
 * The run lock: one modelmount run at a time per store folder and per host
 * folder. `<dir>/.modelmount.lock` is a directory (mkdir/rename are atomic, also
 * on NFS) holding `holder.json` (pid, host, command, since), so a second run can
 * say whom it waits for.
 *
 * Our own, small: the holder info is written into a temporary directory that
 * is renamed into place, so a lock never exists without its holder.json; the
 * holder refreshes the lock's mtime every `staleMs / 4` (heartbeat) and gives
 * the lock up (its run is aborted) when the lock is no longer its own or it
 * could not refresh it within `staleMs`; a lock not refreshed for `staleMs` —
 * its holder was SIGKILLed or its machine died — is reclaimed, at once when its
 * holder is a dead process on this host; the lock is removed at exit.
 * Every removal (release, reclaim) happens under `<lock>.reclaim`, a second
 * directory taken with mkdir, and removes only the lock it inspected: a fresh
 * lock another waiter took a moment earlier is never deleted.
 *
 * The lock is a courtesy, not the foundation: locks do not hold on every
 * network filesystem, so the store and the installer stay correct without it
 * (unique temp names, partials claimed by rename, verified blobs linked into
 * place, an existing correct target counting as success).
 */
import fsCb, { closeSync, fstatSync, openSync, readFileSync, rmSync, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onExit } from 'signal-exit';
import { systemClock, type Clock } from './clock.ts';
import { DiskError, LockError, toDiskError } from './errors.ts';
import { makeDirs, readOwnFile } from './fs-safe.ts';
import { lockPath } from './layout.ts';
import { ownerState, ownerTag } from './owner.ts';

/** A holder that stopped refreshing its lock for this long is presumed dead. */
export const DEFAULT_STALE_MS = 20_000;
/** the heartbeat runs every second at most: a shorter stale interval would be taken for a dead holder */
export const MIN_STALE_MS = 2_000;

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  /** ISO time the lock was taken (set when the lock directory is created) */
  since: string;
  /** random, to tell our own lock from another's */
  token: string;
}

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

const HOLDER_FILE = 'holder.json';

function defaultCommand(): string {
  const [, script, ...args] = process.argv;
  const name = script ? path.basename(script).replace(/\.(m?js|ts)$/, '') : 'node';
  return [name, ...args].join(' ').slice(0, 200);
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.since === 'string') {
      return { pid: h.pid, host: h.host, command: String(h.command ?? '?'), since: h.since, token: String(h.token ?? '') };
    }
  } catch {
    // torn or foreign: unknown holder
  }
  return undefined;
}

/** holder.json's text ('' when missing or unreadable); never blocks on a FIFO, never follows a link. */
async function readHolderText(file: string): Promise<string> {
  return ((await readOwnFile(file).catch(() => undefined)) ?? '').toString('utf8');
}

/**
 * The current holder of the lock on `dir`, if it is locked and says who it is. A holder.json that
 * is a FIFO, socket or device is refused at once (DiskError, exit 5) instead of blocking the run.
 */
export async function readLockHolder(dir: string): Promise<LockHolder | undefined> {
  const file = path.join(lockPath(dir), HOLDER_FILE);
  try {
    return parseHolder(((await readOwnFile(file)) ?? '').toString('utf8'));
  } catch (err) {
    if (err instanceof DiskError && err.code === 'ENOTFILE') {
      throw new DiskError(`${file} is not a regular file (${(err.data?.kind as string | undefined) ?? 'a special file'}); modelmount cannot tell who holds the lock on ${dir}.`, {
        code: 'ENOTFILE',
        data: { path: file },
        hint: `If no modelmount run is using ${dir}, remove the lock (\`rm -r ${lockPath(dir)}\`) and run again.`,
      });
    }
    return undefined;
  }
}

/** "pid 4242 on host ci-7 (modelmount update --yes), since 12:00:03, 8 s ago" */
export function describeHolder(h: LockHolder | undefined, now = Date.now()): string {
  if (!h) return 'a process that did not say who it is';
  const t = Date.parse(h.since);
  const ago = Number.isFinite(t) ? `, ${Math.max(0, Math.round((now - t) / 1000))} s ago` : '';
  return `pid ${h.pid} on host ${h.host} (${h.command}), since ${h.since}${ago}`;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** mkdir with the holder inside: build it under a unique name, rename it into place. */
async function createLockDir(lockDir: string, holder: LockHolder, clock: Clock): Promise<boolean> {
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
async function removeLockIf(
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
    const holder = parseHolder(await readHolderText(path.join(lockDir, HOLDER_FILE)));
    if (!still(holder, st.mtimeMs)) return;
    const grave = `${lockDir}.${ownerTag()}.released`;
    await fs.rename(lockDir, grave);
    await fs.rm(grave, { recursive: true, force: true });
    removed = true;
  });
  return !ran ? 'busy' : removed ? 'removed' : 'kept';
}

/**
 * Take the lock over if its holder is gone: a process on this host that no longer runs (kill -9,
 * a crash) at once; any holder (another host's on a shared NFS store) once the lock has not been
 * refreshed for `staleMs`.
 */
async function reclaimIfAbandoned(lockDir: string, staleMs: number, clock: Clock): Promise<boolean> {
  const r = await removeLockIf(lockDir, staleMs, clock, (h, mtimeMs) => {
    if (h?.token && ownerState(h.host, h.pid) === 'gone') return true;
    return mtimeMs < clock.now() - staleMs;
  });
  return r === 'removed';
}

/** Keep our lock fresh; report when it is no longer ours or could not be refreshed in time. */
function startHeartbeat(lockDir: string, token: string, staleMs: number, clock: Clock, onCompromised: (err: Error) => void): () => void {
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
        const h = parseHolder(await readHolderText(path.join(lockDir, HOLDER_FILE)));
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

/** At exit (also by a signal), remove the locks this process still holds. */
const heldLocks = new Map<string, string>();
let exitHookInstalled = false;
function removeHeldLocksAtExit(): void {
  for (const [lockDir, token] of heldLocks) {
    try {
      // never blocks at exit: a holder.json that is not a regular file is not ours
      const fd = openSync(path.join(lockDir, HOLDER_FILE), fsCb.constants.O_RDONLY | fsCb.constants.O_NONBLOCK | fsCb.constants.O_NOFOLLOW);
      let h: LockHolder | undefined;
      try {
        h = fstatSync(fd).isFile() ? parseHolder(readFileSync(fd, 'utf8')) : undefined;
      } finally {
        closeSync(fd);
      }
      if (h?.token === token) rmSync(lockDir, { recursive: true, force: true });
    } catch {
      // gone already
    }
  }
}

async function prepareDir(dir: string): Promise<string> {
  await makeDirs(dir);
  try {
    return await fs.realpath(dir);
  } catch (err) {
    throw toDiskError(err, `creating ${dir} to lock it`) ?? err;
  }
}

type Release = () => Promise<void>;

async function acquire(
  dir: string,
  opts: RunLockOptions & { staleMs: number },
  holder: LockHolder,
  clock: Clock,
  onCompromised: (err: Error) => void,
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
      throw toDiskError(err, `locking ${dir}`) ?? err;
    }
    if (created) {
      heldLocks.set(lockDir, holder.token);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        onExit(removeHeldLocksAtExit);
      }
      const stopHeartbeat = startHeartbeat(lockDir, holder.token, opts.staleMs, clock, onCompromised);
      return async () => {
        stopHeartbeat();
        heldLocks.delete(lockDir);
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
export async function withRunLock<T>(dirs: readonly string[], opts: RunLockOptions, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const staleMs = Math.max(MIN_STALE_MS, opts.staleMs ?? DEFAULT_STALE_MS);
  const clock = opts.clock ?? systemClock;
  const real = [...new Set(await Promise.all(dirs.map((d) => prepareDir(path.resolve(d)))))].sort();
  const lost = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, lost.signal]) : lost.signal;
  const holder: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    command: opts.command ?? defaultCommand(),
    since: new Date().toISOString(),
    token: ownerTag(),
  };
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
        }),
      );
    }
    return await fn(signal);
  } finally {
    for (const release of releases.reverse()) await release();
  }
}
