/**
 * Who made a temp file or holds a lock: `<host>.<pid>.<random>` in its name (or holder file).
 * On this host a dead pid proves the owner gone (kill -9, crash), so its leftovers can be
 * taken over at once; on another host (a shared NFS folder) a pid proves nothing, and callers
 * fall back to an age limit.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';

/** this host's name, reduced to characters safe in a file name and free of the "." separator (at most 64, Linux's limit) */
export const HOST_TAG = os.hostname().replace(/[^A-Za-z0-9-]/g, '-').slice(0, 64) || 'host';

/**
 * The 12 hex digits of ownerTag(): a 48-bit random start per process, plus a counter. Unique per
 * call in this process (for 2^48 calls), as unlikely as before to meet another process's (two
 * containers with the same host name and pid); 20,000 small files made 40,000 temp names, and a
 * fresh random number and a getpid() call for each showed in the profile (issue 15).
 */
const PID = process.pid;
const TAG_SPACE = 2 ** 48;
const TAG_START = randomBytes(6).readUIntBE(0, 6);
let tagCount = 0;

/** `<host>.<pid>.<12 hex>`: unique per call, names its owner */
export function ownerTag(): string {
  tagCount++;
  return `${HOST_TAG}.${PID}.${((TAG_START + tagCount) % TAG_SPACE).toString(16).padStart(12, '0')}`;
}

/** One name in a folder: the limit of ext4, xfs, btrfs, tmpfs, NFS … (the manifest allows names this long). */
export const NAME_MAX_BYTES = 255;

/** The longest prefix of `s` of at most `max` UTF-8 bytes, never cutting a character in two. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (used + n > max) break;
    out += ch;
    used += n;
  }
  return out;
}

/**
 * `<base>.<ownerTag()><suffix>`, the base shortened so the whole name fits in NAME_MAX_BYTES: a
 * temp name for a 255-byte file name must not fail with ENAMETOOLONG. The tag is kept whole at
 * the end, where tagOwner() reads it; the base only helps a human recognise the file.
 */
export function taggedName(base: string, suffix: string): string {
  const tail = `.${ownerTag()}${suffix}`;
  return `${truncateUtf8(base, NAME_MAX_BYTES - Buffer.byteLength(tail))}${tail}`;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * What we know of an owner named by `host` (HOST_TAG or the plain host name) and `pid`: 'self'
 * (this process), 'alive' or 'gone' on this host, 'unknown' elsewhere or when the name does not parse.
 */
export function ownerState(host: string | undefined, pid: number): 'self' | 'alive' | 'gone' | 'unknown' {
  if ((host !== HOST_TAG && host !== os.hostname()) || !Number.isInteger(pid) || pid <= 0) return 'unknown';
  if (pid === PID) return 'self';
  return isProcessAlive(pid) ? 'alive' : 'gone';
}

/**
 * The owner of a file named `<anything>.<ownerTag()><suffix>` (a store partial, a host temp file),
 * as far as this host can tell: 'unknown' when the name does not end in `suffix` or carries no tag.
 */
export function tagOwner(name: string, suffix: string): ReturnType<typeof ownerState> {
  if (!name.endsWith(suffix)) return 'unknown';
  const parts = name.slice(0, name.length - suffix.length).split('.');
  if (parts.length < 4) return 'unknown';
  return ownerState(parts.at(-3), Number(parts.at(-2)));
}
