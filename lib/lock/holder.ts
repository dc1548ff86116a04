/**
 * The lock's holder record: `<lock>/holder.json` (pid, host, command, since, token), so a second
 * run can say whom it waits for, and a holder can tell its own lock from another's.
 */
import os from 'node:os';
import path from 'node:path';
import { DiskError } from '../errors.ts';
import { readOwnFile } from '../fs-safe.ts';
import { lockPath } from '../layout.ts';
import { ownerTag } from '../owner.ts';

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  /** ISO time the lock was taken (set when the lock directory is created) */
  since: string;
  /** random, to tell our own lock from another's */
  token: string;
}

export const HOLDER_FILE = 'holder.json';

function defaultCommand(): string {
  const [, script, ...args] = process.argv;
  const name = script ? path.basename(script).replace(/\.(m?js|ts)$/, '') : 'node';
  return [name, ...args].join(' ').slice(0, 200);
}

/** This process as a holder, with a fresh token; `command` says what the run is (default: this process's argv). */
export function makeHolder(command: string | undefined): LockHolder {
  return {
    pid: process.pid,
    host: os.hostname(),
    command: command ?? defaultCommand(),
    since: new Date().toISOString(),
    token: ownerTag(),
  };
}

export function parseHolder(text: string): LockHolder | undefined {
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

/** The holder recorded in the lock folder `lockDir` (undefined when missing, unreadable or torn); never blocks on a FIFO, never follows a link. */
export async function readHolderIn(lockDir: string): Promise<LockHolder | undefined> {
  return parseHolder(((await readOwnFile(path.join(lockDir, HOLDER_FILE)).catch(() => undefined)) ?? '').toString('utf8'));
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
