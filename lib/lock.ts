/**
 * The run lock: one modelmount run at a time per store folder and per host
 * folder. `<dir>/.modelmount.lock` is a directory (mkdir/rename are atomic, also
 * on NFS) holding `holder.json` (pid, host, command, since), so a second run can
 * say whom it waits for.
 *
 * Built on proper-lockfile for the heartbeat (the holder refreshes the lock's
 * mtime every `staleMs / 4`), staleness (a lock not refreshed for `staleMs` —
 * its holder was SIGKILLed or its machine died — is reclaimed), compromise
 * detection and release on exit. Two of its weak spots are covered through
 * its `fs` option:
 *   - holder info is written into a temporary directory that is renamed into
 *     place, so a lock never exists without its holder.json;
 *   - reclaiming a stale lock renames it away first and checks that what it
 *     took is still the stale one; a fresh lock grabbed in the race (another
 *     waiter reclaimed it a moment earlier) is put back instead of deleted.
 *
 * The lock is a courtesy, not the foundation: locks do not hold on every
 * network filesystem, so the store and the installer stay correct without it
 * (unique temp names, partials claimed by rename, verified blobs linked into
 * place, an existing correct target counting as success).
 */
import fsCb, { closeSync, fstatSync, openSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { DiskError, LockError, toDiskError } from './errors.ts';
import { makeDirs, readOwnFile } from './fs-safe.ts';
import { lockPath } from './layout.ts';
import { ownerState, ownerTag } from './owner.ts';

/** A holder that stopped refreshing its lock for this long is presumed dead. */
export const DEFAULT_STALE_MS = 20_000;
/** proper-lockfile refuses anything shorter. */
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
async function createLockDir(lockDir: string, holder: LockHolder): Promise<void> {
  const tmp = `${lockDir}.${ownerTag()}.tmp`;
  await fs.mkdir(tmp);
  try {
    await fs.writeFile(path.join(tmp, HOLDER_FILE), `${JSON.stringify({ ...holder, since: new Date().toISOString() })}\n`);
    await fs.rename(tmp, lockDir);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    const code = errno(err);
    // rename onto an existing, non-empty directory: somebody holds the lock
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR') {
      throw Object.assign(new Error(`${lockDir} exists`), { code: 'EEXIST' });
    }
    throw err;
  }
}

/**
 * Remove the lock directory if it is ours (release) or still stale (reclaim).
 * It is renamed away first, so what we inspect is exactly what we took.
 */
async function removeLockDir(lockDir: string, token: string, staleMs: number): Promise<void> {
  const grave = `${lockDir}.${ownerTag()}.released`;
  try {
    await fs.rename(lockDir, grave);
  } catch (err) {
    if (errno(err) === 'ENOENT') return;
    throw err;
  }
  let ours = false;
  let stale = false;
  try {
    const holder = parseHolder(await readHolderText(path.join(grave, HOLDER_FILE)));
    ours = holder?.token === token;
    stale = (await fs.stat(grave)).mtimeMs < Date.now() - staleMs;
  } catch {
    stale = true;
  }
  if (!ours && !stale) {
    // Another waiter reclaimed the stale lock a moment before us and this is its fresh lock: give it back.
    try {
      await fs.rename(grave, lockDir);
      return;
    } catch {
      // a third run locked meanwhile; the displaced holder's heartbeat notices (ECOMPROMISED) and stops
    }
  }
  await fs.rm(grave, { recursive: true, force: true });
}

/**
 * A holder on this host whose process is gone (kill -9, a crash) cannot refresh its lock:
 * take the lock over at once instead of waiting out the stale interval. Only the exact lock
 * that dead process wrote is removed (renamed away and checked, like removeLockDir). On
 * another host (a shared NFS store) the pid means nothing, and the stale interval decides.
 */
async function reclaimIfHolderDead(lockDir: string, current: LockHolder | undefined): Promise<boolean> {
  if (!current?.token || ownerState(current.host, current.pid) !== 'gone') return false;
  const grave = `${lockDir}.${ownerTag()}.released`;
  try {
    await fs.rename(lockDir, grave);
  } catch {
    return false;
  }
  const taken = parseHolder(await readHolderText(path.join(grave, HOLDER_FILE)));
  if (taken?.token !== current.token) {
    // a live run took the lock meanwhile: give it back
    await fs.rename(grave, lockDir).catch(() => {});
    return false;
  }
  await fs.rm(grave, { recursive: true, force: true });
  return true;
}

/** The `fs` proper-lockfile uses: ours for mkdir/rmdir, node's for the rest. */
function lockFs(holder: LockHolder, staleMs: number): Record<string, unknown> {
  type Cb = (err: NodeJS.ErrnoException | null, value?: unknown) => void;
  return {
    mkdir: (p: string, cb: Cb) => void createLockDir(p, holder).then(() => cb(null), cb),
    rmdir: (p: string, cb: Cb) => void removeLockDir(p, holder.token, staleMs).then(() => cb(null), cb),
    // at exit (signal-exit): remove only our own lock
    rmdirSync: (p: string) => {
      let h: LockHolder | undefined;
      try {
        // never blocks at exit: a holder.json that is not a regular file is not ours
        const fd = openSync(path.join(p, HOLDER_FILE), fsCb.constants.O_RDONLY | fsCb.constants.O_NONBLOCK | fsCb.constants.O_NOFOLLOW);
        try {
          h = fstatSync(fd).isFile() ? parseHolder(readFileSync(fd, 'utf8')) : undefined;
        } finally {
          closeSync(fd);
        }
      } catch {
        return;
      }
      if (h?.token === holder.token) rmSync(p, { recursive: true, force: true });
    },
    stat: fsCb.stat,
    utimes: fsCb.utimes,
    realpath: fsCb.realpath,
  };
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
  onCompromised: (err: Error) => void,
): Promise<Release> {
  const maxPoll = opts.maxPollMs ?? 500;
  let poll = Math.min(100, maxPoll);
  let lastReported: string | undefined;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const release = await lockfile.lock(dir, {
        lockfilePath: lockPath(dir),
        realpath: false,
        retries: 0,
        stale: opts.staleMs,
        update: Math.max(1000, Math.floor(opts.staleMs / 4)),
        fs: lockFs(holder, opts.staleMs),
        onCompromised,
      });
      return async () => {
        try {
          await release();
        } catch {
          // ERELEASED: the lock was compromised and already given up
        }
      };
    } catch (err) {
      if (errno(err) !== 'ELOCKED') throw toDiskError(err, `locking ${dir}`) ?? err;
    }
    const current = await readLockHolder(dir);
    if (await reclaimIfHolderDead(lockPath(dir), current)) continue;
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
    await sleep(Math.round(poll * jitter), undefined, opts.signal ? { signal: opts.signal } : undefined);
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
        await acquire(dir, { ...opts, staleMs }, holder, (err) => {
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
