/**
 * Step 1 of `models:smoke`: a POSIX `sh` script (busybox ash, dash, bash) run
 * inside a one-off container of the service, and the pure parser of what it
 * prints. For each artifact it checks that
 *   - the target folder exists (else MISSING_DIR),
 *   - it is read-only: creating a file must fail with EROFS, and the mount
 *     covering it (from /proc/self/mounts) must have the `ro` option
 *     (READ_ONLY / WRITABLE / RO_UNKNOWN),
 *   - every file exists, is readable, and has the manifest size
 *     (OK / MISSING_FILE / UNREADABLE / SIZE); a file behind a folder the
 *     container's user cannot search is UNREADABLE naming that folder, not missing,
 *   - with `full`, the manifest sha256 via `sha256sum` when the image has it
 *     (SHA), else one `SHA_SKIPPED` line: "skipped: no sha256sum in image".
 *
 * Output protocol: one line per fact, fields separated by TAB, first field `MM`:
 *
 *   MM BEGIN <protocol>
 *   MM TOOLS <stat|wc> <sha256sum|none>
 *   MM MOUNT <id> <target> <mount point> <mount options>      (info)
 *   MM MISSING_DIR <id> <target> <detail>
 *   MM READ_ONLY <id> <target> <evidence>
 *   MM WRITABLE <id> <target> <detail>
 *   MM RO_UNKNOWN <id> <target> <detail>
 *   MM OK <id> <path> <size> <size|sha256>
 *   MM MISSING_FILE <id> <path> <detail>
 *   MM UNREADABLE <id> <path> <detail>
 *   MM SIZE <id> <path> <expected> <actual>
 *   MM SHA <id> <path> <expected> <actual>
 *   MM SHA_SKIPPED <reason>
 *   MM END
 *
 * Lines not starting with `MM<TAB>` (an entrypoint's chatter) are kept apart.
 * Ids and paths come from a validated manifest; they are still single-quoted in
 * the script, and refused here if they hold a TAB or newline (which would break
 * the line protocol).
 */
import { randomBytes } from 'node:crypto';
import { containerPathOf } from '../layout.ts';
import type { Artifact } from '../manifest/schema.ts';

export const CHECK_PROTOCOL = '1';

export interface CheckFile {
  /** POSIX path relative to the artifact folder */
  path: string;
  size: number;
  sha256: string;
}

export interface CheckArtifact {
  id: string;
  /** absolute container path of the artifact folder */
  target: string;
  files: CheckFile[];
}

export interface CheckScriptOptions {
  /** also compare sha256 (when the image has sha256sum) */
  full?: boolean;
  /** name of the probe file created to test writability; defaults to a random one */
  probeName?: string;
}

/** What the check needs from the manifest: artifact folders in the container and their files. */
export function checkArtifactsFor(artifacts: readonly Artifact[], containerDir: string): CheckArtifact[] {
  return artifacts.map((a) => ({
    id: a.id,
    target: containerPathOf(containerDir, a.id),
    files: a.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
  }));
}

/** Quote one word for a POSIX shell: always single quotes, `'` as `'\''`. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** How /proc/mounts writes a path: space, tab, newline and backslash as octal escapes. */
export function mountsEscape(p: string): string {
  return p.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

// eslint-disable-next-line no-control-regex
const UNSAFE_FIELD = /[\t\n\r\0]/;

function assertField(what: string, value: string): void {
  if (UNSAFE_FIELD.test(value)) {
    throw new TypeError(`${what} ${JSON.stringify(value)} holds a TAB, newline or NUL; the in-container check cannot report it.`);
  }
}

/**
 * The functions every script starts with. Kept POSIX: no `local`, no arrays,
 * no `[[`, no `$'…'`, no `echo -e`; printf with `%s` for every value.
 */
const PRELUDE = `LC_ALL=C
export LC_ALL
mm() {
  printf 'MM'
  for mm_a in "$@"; do printf '\\t%s' "$mm_a"; done
  printf '\\n'
}
mm_nl='
'
mm_line1() {
  mm_l=$1
  mm_l=\${mm_l%%"$mm_nl"*}
  printf '%s' "$mm_l"
}
if command -v stat >/dev/null 2>&1 && [ "$(stat -c %s / 2>/dev/null)" != '' ]; then mm_stat=1; else mm_stat=0; fi
if command -v sha256sum >/dev/null 2>&1; then mm_sha=1; else mm_sha=0; fi
mm_size() {
  mm_s=
  if [ "$mm_stat" = 1 ]; then mm_s=$(stat -L -c %s "$1" 2>/dev/null); fi
  case $mm_s in
    ''|*[!0-9]*) mm_s=$(wc -c < "$1" 2>/dev/null); mm_s=\${mm_s##* } ;;
  esac
  printf '%s' "$mm_s"
}
mm_dir() {
  if [ ! -d "$2" ]; then
    if [ -e "$2" ] || [ -L "$2" ]; then mm MISSING_DIR "$1" "$2" 'exists but is not a folder'
    else mm MISSING_DIR "$1" "$2" 'no such folder'; fi
    return 1
  fi
  mm_mp=
  mm_mo=
  if [ -r /proc/self/mounts ]; then
    while read -r mm_d mm_m mm_t mm_o mm_r; do
      case $3 in
        "$mm_m"|"$mm_m"/*) mm_ok=1 ;;
        *) if [ "$mm_m" = / ]; then mm_ok=1; else mm_ok=0; fi ;;
      esac
      if [ "$mm_ok" = 1 ] && [ "\${#mm_m}" -ge "\${#mm_mp}" ]; then mm_mp=$mm_m; mm_mo=$mm_o; fi
    done < /proc/self/mounts
    mm MOUNT "$1" "$2" "$mm_mp" "$mm_mo"
  fi
  mm_p="$2/$4"
  if [ -e "$mm_p" ] || [ -L "$mm_p" ]; then
    mm_e='probe file already exists'
  elif mm_e=$( (set -C; : > "$mm_p") 2>&1 ); then
    if rm -f "$mm_p" 2>/dev/null; then mm WRITABLE "$1" "$2" 'created a file in it'
    else mm WRITABLE "$1" "$2" "created a file in it and could not remove it: $mm_p"; fi
    return 0
  fi
  mm_e=$(mm_line1 "$mm_e")
  case ",$mm_mo," in *,ro,*) mm_ro=1 ;; *) mm_ro=0 ;; esac
  case $mm_e in
    *'Read-only file system'*) mm READ_ONLY "$1" "$2" 'EROFS' ;;
    *)
      if [ "$mm_ro" = 1 ]; then mm READ_ONLY "$1" "$2" "mount option ro (write probe: $mm_e)"
      elif [ -n "$mm_mo" ]; then mm WRITABLE "$1" "$2" "mounted read-write ($mm_mo); the write probe failed only because: $mm_e"
      else mm RO_UNKNOWN "$1" "$2" "cannot read /proc/self/mounts; write probe: $mm_e"; fi ;;
  esac
  return 0
}
mm_unsearchable() {
  mm_q=$1
  mm_r=$2
  while :; do
    if [ -d "$mm_q" ] && [ ! -x "$mm_q" ]; then printf '%s' "$mm_q"; return 0; fi
    case $mm_r in
      */*) mm_q="$mm_q/\${mm_r%%/*}"; mm_r=\${mm_r#*/} ;;
      *) return 1 ;;
    esac
  done
}
mm_file() {
  mm_p="$2/$3"
  if [ ! -e "$mm_p" ]; then
    if [ -L "$mm_p" ]; then mm MISSING_FILE "$1" "$3" 'dangling symlink'
    elif mm_q=$(mm_unsearchable "$2" "$3"); then mm UNREADABLE "$1" "$3" "permission denied: uid $(id -u 2>/dev/null || echo '?') cannot search the folder $mm_q"
    else mm MISSING_FILE "$1" "$3" 'no such file'; fi
    return 0
  fi
  if [ ! -f "$mm_p" ]; then mm MISSING_FILE "$1" "$3" 'not a regular file'; return 0; fi
  if [ ! -r "$mm_p" ]; then mm UNREADABLE "$1" "$3" "not readable by uid $(id -u 2>/dev/null || echo '?')"; return 0; fi
  mm_s=$(mm_size "$mm_p")
  if [ "$mm_s" != "$4" ]; then mm SIZE "$1" "$3" "$4" "$mm_s"; return 0; fi
  if [ "$6" = 1 ] && [ "$mm_sha" = 1 ]; then
    if mm_h=$(sha256sum < "$mm_p" 2>&1); then
      mm_h=\${mm_h%% *}
      if [ "$mm_h" != "$5" ]; then mm SHA "$1" "$3" "$5" "$mm_h"; return 0; fi
      mm OK "$1" "$3" "$mm_s" sha256
    else
      mm UNREADABLE "$1" "$3" "$(mm_line1 "$mm_h")"
    fi
    return 0
  fi
  mm OK "$1" "$3" "$mm_s" size
}
`;

/** Build the script for these artifacts. Deterministic apart from the probe name. */
export function buildCheckScript(artifacts: readonly CheckArtifact[], opts: CheckScriptOptions = {}): string {
  const full = opts.full === true;
  const probe = opts.probeName ?? `.modelmount-probe-${randomBytes(6).toString('hex')}`;
  if (!/^\.?[A-Za-z0-9._-]+$/.test(probe)) throw new TypeError(`bad probe file name ${JSON.stringify(probe)}`);
  const lines: string[] = [PRELUDE];
  lines.push(`mm BEGIN ${CHECK_PROTOCOL}`);
  lines.push(`if [ "$mm_stat" = 1 ]; then mm_ts=stat; else mm_ts=wc; fi; if [ "$mm_sha" = 1 ]; then mm_th=sha256sum; else mm_th=none; fi; mm TOOLS "$mm_ts" "$mm_th"`);
  if (full) lines.push(`if [ "$mm_sha" = 0 ]; then mm SHA_SKIPPED 'no sha256sum in image'; fi`);
  for (const a of artifacts) {
    assertField('artifact id', a.id);
    assertField('container path', a.target);
    const id = shQuote(a.id);
    const target = shQuote(a.target);
    lines.push(`if mm_dir ${id} ${target} ${shQuote(mountsEscape(a.target))} ${shQuote(probe)}; then`);
    for (const f of a.files) {
      assertField('file path', f.path);
      if (!Number.isSafeInteger(f.size) || f.size < 0) throw new TypeError(`bad size ${f.size} for ${f.path}`);
      lines.push(`  mm_file ${id} ${target} ${shQuote(f.path)} ${f.size} ${shQuote(f.sha256)} ${full ? 1 : 0}`);
    }
    lines.push('fi');
  }
  lines.push('mm END');
  return `${lines.join('\n')}\n`;
}

/**
 * Split the artifacts so that each script stays under `maxBytes` (Linux refuses
 * a single argument longer than 128 KiB, and the script is passed as `sh -c`'s
 * argument). An artifact with too many files is split into several parts.
 */
export function chunkCheckArtifacts(artifacts: readonly CheckArtifact[], maxBytes = 100_000): CheckArtifact[][] {
  const prelude = PRELUDE.length + 600;
  const chunks: CheckArtifact[][] = [];
  let cur: CheckArtifact[] = [];
  let size = prelude;
  const flush = () => {
    if (cur.length > 0) chunks.push(cur);
    cur = [];
    size = prelude;
  };
  for (const a of artifacts) {
    const head = 120 + 2 * (a.id.length + a.target.length);
    let part: CheckArtifact = { ...a, files: [] };
    if (size + head > maxBytes) flush();
    size += head;
    for (const f of a.files) {
      const cost = 40 + a.id.length + a.target.length + f.path.length + 64 + 20;
      if (size + cost > maxBytes && (part.files.length > 0 || cur.length > 0)) {
        if (part.files.length > 0) cur.push(part);
        flush();
        part = { ...a, files: [] };
        size += head;
      }
      part.files.push(f);
      size += cost;
    }
    cur.push(part);
  }
  flush();
  return chunks;
}

// ---------------------------------------------------------------------------
// Parsing

export type CheckEvent =
  | { kind: 'begin'; protocol: string }
  | { kind: 'tools'; size: string; sha256: string }
  | { kind: 'mount'; id: string; target: string; mountPoint: string; options: string[] }
  | { kind: 'missing-dir'; id: string; target: string; detail: string }
  | { kind: 'read-only'; id: string; target: string; evidence: string }
  | { kind: 'writable'; id: string; target: string; detail: string }
  | { kind: 'ro-unknown'; id: string; target: string; detail: string }
  | { kind: 'file-ok'; id: string; path: string; size: number; method: 'size' | 'sha256' }
  | { kind: 'missing-file'; id: string; path: string; detail: string }
  | { kind: 'unreadable'; id: string; path: string; detail: string }
  | { kind: 'size-mismatch'; id: string; path: string; expected: number; actual: number | null }
  | { kind: 'sha-mismatch'; id: string; path: string; expected: string; actual: string }
  | { kind: 'sha-skipped'; reason: string }
  | { kind: 'end' };

export interface ParsedCheckOutput {
  events: CheckEvent[];
  /** BEGIN was seen */
  started: boolean;
  /** END was seen: the script ran to the end */
  complete: boolean;
  /** lines that are not part of the protocol (entrypoint output, shell errors) */
  other: string[];
  /** `MM` lines that could not be understood */
  malformed: string[];
}

function toSize(s: string | undefined): number | null {
  if (s === undefined || !/^\d+$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** Parse the script's output. Pure; tolerant of CRLF and of unrelated lines. */
export function parseCheckOutput(text: string): ParsedCheckOutput {
  const out: ParsedCheckOutput = { events: [], started: false, complete: false, other: [], malformed: [] };
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!line.startsWith('MM\t')) {
      if (line.trim() !== '') out.other.push(line);
      continue;
    }
    const [, tag = '', ...f] = line.split('\t');
    const rest = (i: number) => f.slice(i).join('\t');
    let ev: CheckEvent | undefined;
    switch (tag) {
      case 'BEGIN':
        ev = { kind: 'begin', protocol: f[0] ?? '' };
        out.started = true;
        break;
      case 'TOOLS':
        if (f.length >= 2) ev = { kind: 'tools', size: f[0]!, sha256: f[1]! };
        break;
      case 'MOUNT':
        if (f.length >= 4) ev = { kind: 'mount', id: f[0]!, target: f[1]!, mountPoint: f[2]!, options: rest(3).split(',').filter(Boolean) };
        break;
      case 'MISSING_DIR':
        if (f.length >= 2) ev = { kind: 'missing-dir', id: f[0]!, target: f[1]!, detail: rest(2) };
        break;
      case 'READ_ONLY':
        if (f.length >= 2) ev = { kind: 'read-only', id: f[0]!, target: f[1]!, evidence: rest(2) };
        break;
      case 'WRITABLE':
        if (f.length >= 2) ev = { kind: 'writable', id: f[0]!, target: f[1]!, detail: rest(2) };
        break;
      case 'RO_UNKNOWN':
        if (f.length >= 2) ev = { kind: 'ro-unknown', id: f[0]!, target: f[1]!, detail: rest(2) };
        break;
      case 'OK': {
        const size = toSize(f[2]);
        if (f.length >= 4 && size !== null && (f[3] === 'size' || f[3] === 'sha256')) ev = { kind: 'file-ok', id: f[0]!, path: f[1]!, size, method: f[3] };
        break;
      }
      case 'MISSING_FILE':
        if (f.length >= 2) ev = { kind: 'missing-file', id: f[0]!, path: f[1]!, detail: rest(2) };
        break;
      case 'UNREADABLE':
        if (f.length >= 2) ev = { kind: 'unreadable', id: f[0]!, path: f[1]!, detail: rest(2) };
        break;
      case 'SIZE': {
        const expected = toSize(f[2]);
        if (f.length >= 4 && expected !== null) ev = { kind: 'size-mismatch', id: f[0]!, path: f[1]!, expected, actual: toSize(f[3]) };
        break;
      }
      case 'SHA':
        if (f.length >= 4) ev = { kind: 'sha-mismatch', id: f[0]!, path: f[1]!, expected: f[2]!, actual: f[3]! };
        break;
      case 'SHA_SKIPPED':
        ev = { kind: 'sha-skipped', reason: rest(0) || 'no sha256sum in image' };
        break;
      case 'END':
        ev = { kind: 'end' };
        out.complete = true;
        break;
      default:
        break;
    }
    if (ev) out.events.push(ev);
    else out.malformed.push(line);
  }
  return out;
}
