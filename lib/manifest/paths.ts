/**
 * Path safety for everything the manifest turns into a host path: artifact ids
 * (`student/v0_ja`) and file paths inside an artifact (`tokenizer/vocab.json`).
 * Both are joined under hostDir, so a bad one could write outside it, land on a
 * different file on another OS, or silently merge with a sibling on a
 * case-insensitive or normalisation-insensitive file system (macOS, Windows).
 *
 * Pure: no file system access.
 */

/** Windows device names: `CON`, `nul.txt`, `COM1.log` … open the device, not a file. */
const WINDOWS_DEVICE_RE = /^(?:con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(?:\..*)?$/i;
/** C0/C1 control characters, DEL, line/paragraph separators. */
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
/** Bidirectional overrides/isolates and marks: they make a name display differently from what it is. */
const BIDI_RE = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
/** Most file systems limit one name to 255 bytes. */
const MAX_SEGMENT_BYTES = 255;
const MAX_PATH_BYTES = 1024;

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Return a short human reason why `p` is not a safe relative POSIX path, or
 * undefined when it is safe. Safe means: non-empty segments separated by single
 * "/", no "." or ".." (or other all-dots) segments, not absolute, no backslash,
 * no drive letter or other ":", no control or bidi characters, no leading/trailing spaces or
 * trailing dots in a segment, no Windows device names, sane lengths.
 */
export function checkSafeRelativePath(p: string): string | undefined {
  if (typeof p !== 'string') return 'is not a string';
  if (p.length === 0) return 'is empty';
  const ctl = CONTROL_RE.exec(p);
  if (ctl) return `contains the control character ${describeChar(ctl[0])}`;
  const bidi = BIDI_RE.exec(p);
  if (bidi) return `contains the invisible bidirectional character ${describeChar(bidi[0])}`;
  if (p.includes('\\')) return 'contains a backslash (use "/" between folders)';
  if (/^[A-Za-z]:/.test(p)) return 'starts with a Windows drive letter';
  if (p.startsWith('/')) return 'is absolute (starts with "/"); it must be relative';
  if (p.includes(':')) return 'contains ":" (a drive or stream separator on Windows, a field separator in Docker volume specs)';
  if (Buffer.byteLength(p, 'utf8') > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  const segments = p.split('/');
  for (const [i, seg] of segments.entries()) {
    if (seg === '') {
      return i === segments.length - 1 ? 'ends with "/"' : 'has an empty folder name ("//")';
    }
    if (seg === '.') return 'has a "." segment';
    if (seg === '..') return 'has a ".." segment (it would point outside its folder)';
    if (/^\.+$/.test(seg)) return `has the all-dots segment "${seg}"`;
    if (/^\s|\s$/u.test(seg)) return `has leading or trailing whitespace in "${seg}"`;
    if (seg.endsWith('.')) return `has a name ending in "." ("${seg}"), which Windows silently drops`;
    if (WINDOWS_DEVICE_RE.test(seg)) return `uses the reserved Windows device name "${seg}"`;
    if (Buffer.byteLength(seg, 'utf8') > MAX_SEGMENT_BYTES) return `has a name longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

/**
 * The key two names share when a case-insensitive, normalisation-insensitive
 * file system (APFS, NTFS, exFAT) would treat them as the same file:
 * NFC, then full-ish case folding (upper then lower maps ß→ss, ſ→s, K(Kelvin)→k).
 */
export function foldPath(p: string): string {
  // ASCII is its own NFC and folds by toLowerCase alone (the common case: 20,000 paths of a manifest)
  if (ASCII_RE.test(p)) return p.toLowerCase();
  return p.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');
}

const ASCII_RE = /^[\x00-\x7f]*$/;

export interface Collision {
  /**
   * same: identical strings listed twice;
   * fold: different strings that are the same name after Unicode NFC + case folding;
   * prefix: one path is a parent folder of another (a file cannot also be a folder, and mounts would nest).
   */
  kind: 'same' | 'fold' | 'prefix';
  /** The colliding paths, in input order (for prefix: [parent, child]). */
  paths: string[];
  /** Input indexes of `paths`, same order. */
  indexes: number[];
}

/**
 * Groups of paths that cannot coexist in one folder tree. Paths are compared
 * after `foldPath`. Unsafe paths may be passed; they are compared as strings.
 */
export function findCollisions(paths: readonly string[]): Collision[] {
  const out: Collision[] = [];
  const byKey = new Map<string, number[]>();
  const keys = paths.map(foldPath);
  for (const [i, key] of keys.entries()) {
    const list = byKey.get(key);
    if (list) list.push(i);
    else byKey.set(key, [i]);
  }
  for (const indexes of byKey.values()) {
    if (indexes.length < 2) continue;
    const group = indexes.map((i) => paths[i] as string);
    const kind = group.every((g) => g === group[0]) ? 'same' : 'fold';
    out.push({ kind, paths: group, indexes });
  }
  // prefix: a parent folder of path i is itself listed as a path j
  for (const [i, p] of paths.entries()) {
    const segs = (keys[i] as string).split('/');
    let seen: Set<number> | undefined;
    let parent = '';
    for (let n = 1; n < segs.length; n++) {
      parent = n === 1 ? (segs[0] as string) : `${parent}/${segs[n - 1]}`;
      const parents = byKey.get(parent);
      if (!parents) continue;
      seen ??= new Set<number>();
      for (const j of parents) {
        if (j === i || seen.has(j)) continue;
        seen.add(j);
        out.push({ kind: 'prefix', paths: [paths[j] as string, p], indexes: [j, i] });
      }
    }
  }
  return out;
}
