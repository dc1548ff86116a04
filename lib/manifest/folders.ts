/**
 * Which folders may be a host folder (what containers mount, and what `gc` cleans) and a store.
 * One set of rules, whether a folder came from the manifest, a flag or an environment variable:
 *
 *   - not `/`, not a system folder (/etc, /usr, /bin, /sbin, /lib*, /boot, /dev, /proc, /sys, /run
 *     or anything below them, except a folder below /dev/shm; /var and /home themselves);
 *   - not a folder that holds the manifest, a Compose file of the project or (checked on disk) a `.git`;
 *   - host folder and store apart: neither equal to nor inside the other.
 *
 * A command that uses only the store (warm) has its host folder checked by the path rules only,
 * never looked at on disk: a hung or odd host folder cannot fail a run that never touches it.
 *
 * `folderProblems` is pure (the manifest loader reports its findings at file:line);
 * `checkFolders` adds the on-disk checks (`.git`, symlinks resolved) and throws exit 2. Its looks
 * are under the stall bound: a folder on a hung mount is ESTALLED (exit 5), not a hang.
 */
import { shownDefaultCacheDir } from '../default-store.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { folderLabel, type FolderOrigin, type FolderSetBy } from '../disk-folder.ts';
import { UsageError } from '../errors.ts';
import { stallDeadline } from '../fs-safe.ts';
import { isSameOrInside } from '../path-inside.ts';
import type { IdleDeadline } from '../stall.ts';

/** Folders that are system folders with everything below them. */
const SYSTEM_TREES = ['/etc', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/boot', '/dev', '/proc', '/sys', '/run'];
/** Folders that are system folders themselves, while their subfolders may be anyone's. */
const SYSTEM_ITSELF = ['/var', '/home', '/dev/shm'];
/** Below a system tree, but anyone's scratch space: a RAM disk for models is a fair choice. */
const USER_TREES = ['/dev/shm'];

export interface FolderInput {
  hostDir?: string;
  cacheDir?: string;
  manifestPath?: string;
  composeFiles?: string[];
  /** what set each folder, which messages and a stall's hint name (default: the manifest) */
  setBy?: { host: FolderSetBy; cache: FolderSetBy };
  /** the command uses only the store: the host folder is not looked at on disk (no realpath, no .git) */
  storeOnly?: boolean;
}

function originOf(f: FolderInput, folder: 'host' | 'cache'): FolderOrigin {
  return { folder, setBy: f.setBy?.[folder] ?? 'manifest' };
}

export interface FolderProblem {
  field: 'hostDir' | 'cacheDir';
  message: string;
  fix: string;
}

/** Why `dir` is a system folder, or undefined. */
export function systemFolder(dir: string): string | undefined {
  const d = path.resolve(dir);
  if (path.parse(d).root === d) return 'the file system root';
  if (SYSTEM_ITSELF.includes(d)) return `the system folder ${d}`;
  if (USER_TREES.some((t) => isSameOrInside(d, t) && d !== t)) return undefined;
  const tree = SYSTEM_TREES.find((t) => isSameOrInside(d, t));
  if (tree) return tree === d ? `the system folder ${d}` : `inside the system folder ${tree}`;
  return undefined;
}

const HOST_FIX = 'Use a dedicated folder for the models, e.g. `hostDir: ../learning_machine/artifacts` (or --host-dir DIR).';

export function folderProblems(f: FolderInput): FolderProblem[] {
  const out: FolderProblem[] = [];
  const hostLabel = folderLabel(originOf(f, 'host'));
  const cacheLabel = folderLabel(originOf(f, 'cache'));
  if (f.hostDir !== undefined) {
    const host = path.resolve(f.hostDir);
    const sys = systemFolder(host);
    if (sys) {
      const what = sys === 'the file system root' ? `${hostLabel} resolves to the file system root (${host})` : `${hostLabel} (${host}) is ${sys}`;
      out.push({ field: 'hostDir', message: `${what}: modelmount would install into and clean up a system folder`, fix: HOST_FIX });
    } else if (f.manifestPath && isSameOrInside(path.dirname(path.resolve(f.manifestPath)), host)) {
      out.push({
        field: 'hostDir',
        message: `${hostLabel} (${host}) holds this manifest (${f.manifestPath}): it is a project folder, not a folder for models`,
        fix: HOST_FIX,
      });
    } else {
      const compose = f.composeFiles?.find((c) => isSameOrInside(path.resolve(c), host));
      if (compose) out.push({ field: 'hostDir', message: `${hostLabel} (${host}) holds the Compose file ${compose} of the project`, fix: HOST_FIX });
    }
  }
  if (f.cacheDir !== undefined) {
    const cache = path.resolve(f.cacheDir);
    const sys = systemFolder(cache);
    if (sys) out.push({ field: 'cacheDir', message: `${cacheLabel} (${cache}) is ${sys}`, fix: `Point the store at a folder of its own, or leave it unset for the per-user default (${shownDefaultCacheDir()}).` });
    else if (f.hostDir !== undefined) {
      const host = path.resolve(f.hostDir);
      if (isSameOrInside(cache, host) || isSameOrInside(host, cache)) {
        out.push({
          field: 'cacheDir',
          message: `${cacheLabel} (${cache}) overlaps ${hostLabel} (${host})`,
          fix: `Keep the download store and the mounted folder apart: point ${cacheLabel} somewhere outside ${hostLabel} (or leave it unset to use the default).`,
        });
      }
    }
  }
  return out;
}

/** The real path of `p`: its nearest existing ancestor resolved through symlinks, the rest appended. */
async function realPathOf(p: string, origin: FolderOrigin, opts: FolderLookOptions): Promise<string> {
  const deadline = folderDeadline(p, origin, opts);
  const rest: string[] = [];
  let cur = path.resolve(p);
  for (;;) {
    // undefined: not there (or not readable): its parent is looked at instead
    const real = await deadline.bound(fs.realpath(cur).catch(() => undefined));
    if (real !== undefined) return path.join(real, ...rest.reverse());
    const parent = path.dirname(cur);
    if (parent === cur) return path.resolve(p);
    rest.push(path.basename(cur));
    cur = parent;
  }
}

export interface FolderLookOptions {
  /** no answer from a folder for this long is a stall (ESTALLED, exit 5); default STALL_DEFAULTS.idleMs */
  idleMs?: number;
  /** the run's signal: an abort ends a wait at once */
  signal?: AbortSignal;
}

/**
 * The deadline of the looks at `dir` (a hung mount is a stall naming it). Its hint names what set the
 * folder (`origin`): every command checks its folders, and not every one has --host-dir and
 * --cache-dir (warm, doctor…), so an option only when it was given.
 */
function folderDeadline(dir: string, origin: FolderOrigin, opts: FolderLookOptions): IdleDeadline {
  return stallDeadline('Looking at', path.resolve(dir), { idleMs: opts.idleMs, signal: opts.signal, folder: origin });
}

/**
 * A problem's message as a sentence: one that begins with words ("the default store …") is
 * capitalised; one that begins with a folder's manifest key, option or environment variable
 * ("hostDir", "--host-dir", "MODELS_HOST_DIR") keeps it as written, since that is what to type.
 */
function sentence(message: string): string {
  return /^[a-z]+ /.test(message) ? `${message[0]!.toUpperCase()}${message.slice(1)}` : message;
}

/**
 * The check every command runs once its folders are resolved (manifest, flags, environment):
 * the pure rules on the paths as given and as the file system resolves them, plus a `.git` inside
 * the host folder. Throws UsageError (exit 2) naming the fix; a folder that does not answer is
 * ESTALLED (exit 5).
 */
export async function checkFolders(f: FolderInput, opts: FolderLookOptions = {}): Promise<void> {
  const problems = folderProblems(f);
  if (!problems.length) {
    const hostOnDisk = f.hostDir && !f.storeOnly ? f.hostDir : undefined;
    const real = { ...f, hostDir: hostOnDisk ? await realPathOf(hostOnDisk, originOf(f, 'host'), opts) : f.hostDir, cacheDir: f.cacheDir && (await realPathOf(f.cacheDir, originOf(f, 'cache'), opts)) };
    const links = [
      [f.hostDir, real.hostDir],
      [f.cacheDir, real.cacheDir],
    ]
      .filter(([given, to]) => given && to && path.resolve(given) !== to)
      .map(([given]) => `${path.resolve(given!)} leads there through a symlink`);
    const resolved = folderProblems(real).map((p) => ({ ...p, message: `${p.message} (${links.join('; ')})` }));
    problems.push(...resolved);
  }
  if (!problems.length && f.hostDir && !f.storeOnly) {
    const git = path.join(f.hostDir, '.git');
    if (await folderDeadline(f.hostDir, originOf(f, 'host'), opts).bound(fs.lstat(git).then(() => true, () => false))) {
      problems.push({ field: 'hostDir', message: `${folderLabel(originOf(f, 'host'))} (${path.resolve(f.hostDir)}) holds a .git: it is a project folder, not a folder for models`, fix: HOST_FIX });
    }
  }
  const first = problems[0];
  if (first) {
    throw new UsageError(`${problems.map((p) => sentence(p.message)).join('.\n')}.`, { code: 'EFOLDER', hint: first.fix, data: { problems } });
  }
}
