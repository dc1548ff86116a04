/**
 * The mount-source checks: every folder the override mounts must exist, be a real folder and hold
 * the verified files before Compose ever runs (Docker would create a missing source as an empty
 * root-owned folder, silently; docker-compose v1 rejects `bind.create_host_path`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ComposeError, type ComposeErrorCode } from '../errors.ts';
import { stallDeadline } from '../fs-safe.ts';
import { artifactDir } from '../layout.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import type { IdleDeadline } from '../stall.ts';
import { verifyHostFiles, type FileCheck } from '../verify/verify-files.ts';
import { commandFor } from '../invocation.ts';
import type { ReleaseMounts } from './override.ts';

export type MountSourceState = 'ok' | 'missing' | 'symlink' | 'not-directory' | 'empty' | 'unverified';

const MOUNT_SOURCE_CODES: Record<Exclude<MountSourceState, 'ok'>, ComposeErrorCode> = {
  missing: 'EMOUNT_SOURCE_MISSING',
  symlink: 'EMOUNT_SOURCE_SYMLINK',
  'not-directory': 'EMOUNT_SOURCE_NOT_DIRECTORY',
  empty: 'EMOUNT_SOURCE_EMPTY',
  unverified: 'EMOUNT_SOURCE_UNVERIFIED',
};

export interface MountSourceStatus {
  artifactId: string;
  /** absolute host folder that is (to be) mounted */
  source: string;
  state: MountSourceState;
  message: string;
  /** files that are not `ok` (for 'unverified') */
  badFiles: FileCheck[];
}

/** lstat, undefined when nothing is there (ENOENT, ENOTDIR); other errors are thrown. */
export async function lstatOrUndefined(p: string) {
  try {
    return await fs.lstat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

function describeBadFile(c: FileCheck): string {
  switch (c.status) {
    case 'missing':
      return `${c.path} is missing`;
    case 'size':
      return `${c.path} is ${c.actualSize} bytes, expected ${c.expected.size}`;
    case 'modified':
      return `${c.path} has sha256 ${c.actualSha256}, expected ${c.expected.sha256}`;
    case 'not-regular':
      return `${c.path} is not a regular file (a symlink or folder?)`;
    default:
      return `${c.path}: ${c.status}`;
  }
}

export interface MountSourceOptions {
  full?: boolean;
  jobs?: number;
  releases?: ReleaseMounts;
  /** no answer from the host folder for this long is a stall (ESTALLED, exit 5); default STALL_DEFAULTS.idleMs */
  idleMs?: number;
  signal?: AbortSignal;
}

/**
 * Look at every artifact's host folder without changing anything: it must
 * exist, be a real folder (no symlink anywhere below hostDir), be non-empty and
 * hold the verified files. Docker would otherwise create a missing source as an
 * empty folder, or mount something else than what the manifest describes.
 * Every look is under the host folder's stall bound: a hung mount is an ESTALLED, not a hang.
 */
export async function inspectMountSources(manifest: Manifest, artifacts: readonly Artifact[], opts: MountSourceOptions = {}): Promise<MountSourceStatus[]> {
  const deadline = stallDeadline('Checking the files in', manifest.hostDir, { idleMs: opts.idleMs, signal: opts.signal, folder: 'host' });
  const out: MountSourceStatus[] = [];
  const toVerify: Artifact[] = [];
  for (const a of artifacts) {
    // a release is what gets mounted; the plain folder must still hold the same files for readers outside Compose
    const release = opts.releases?.byId[a.id];
    if (release) {
      const r = await inspectRelease(a.id, release, deadline);
      if (r.state !== 'ok') {
        out.push(r);
        continue;
      }
    }
    const source = artifactDir(manifest.hostDir, a.id);
    const base = { artifactId: a.id, source, badFiles: [] as FileCheck[] };
    // every component from hostDir down to the artifact folder must be a real folder
    let problem: MountSourceStatus | undefined;
    let cur = manifest.hostDir;
    for (const seg of ['', ...a.id.split('/')]) {
      cur = seg === '' ? cur : path.join(cur, seg);
      const st = await deadline.bound(lstatOrUndefined(cur));
      if (!st) {
        problem = { ...base, state: 'missing', message: `${a.id}: the host folder ${source} does not exist (${cur} is missing).` };
      } else if (st.isSymbolicLink() && seg !== '') {
        problem = { ...base, state: 'symlink', message: `${a.id}: ${cur} is a symlink; modelmount mounts real folders only.` };
      } else if (!st.isDirectory() && !st.isSymbolicLink()) {
        problem = { ...base, state: 'not-directory', message: `${a.id}: ${cur} is not a folder.` };
      }
      if (problem) break;
    }
    if (!problem) {
      const entries = await deadline.bound(fs.readdir(source));
      if (entries.length === 0) problem = { ...base, state: 'empty', message: `${a.id}: the host folder ${source} is empty.` };
    }
    if (problem) out.push(problem);
    else {
      out.push(
        release
          ? { ...base, source: release.source, state: 'ok', message: `${a.id}: the release ${release.source} and ${source} hold the verified files.` }
          : { ...base, state: 'ok', message: `${a.id}: ${source} holds the verified files.` },
      );
      toVerify.push(a);
    }
  }
  if (toVerify.length > 0) {
    const checks = await verifyHostFiles(manifest.hostDir, toVerify, { full: opts.full, jobs: opts.jobs ?? manifest.jobs, idleMs: opts.idleMs, signal: opts.signal });
    for (const status of out) {
      if (status.state !== 'ok') continue;
      const bad = checks.filter((c) => c.artifactId === status.artifactId && c.status !== 'ok');
      if (bad.length > 0) {
        status.state = 'unverified';
        status.badFiles = bad;
        status.message = `${status.artifactId}: ${status.source} does not hold the verified files: ${bad.map(describeBadFile).join('; ')}.`;
      }
    }
  }
  return out;
}

/**
 * A release folder is immutable and was verified whole before it was renamed into place: it must
 * still be a real folder holding every file with its size (a file replaced or missing is reported).
 */
async function inspectRelease(artifactId: string, release: ReleaseMounts['byId'][string], deadline: IdleDeadline): Promise<MountSourceStatus> {
  const base = { artifactId, source: release.source, badFiles: [] as FileCheck[] };
  const st = await deadline.bound(lstatOrUndefined(release.source));
  if (!st) return { ...base, state: 'missing', message: `${artifactId}: its release folder ${release.source} does not exist.` };
  if (!st.isDirectory()) return { ...base, state: st.isSymbolicLink() ? 'symlink' : 'not-directory', message: `${artifactId}: ${release.source} is not a real folder.` };
  for (const f of release.files) {
    const hostPath = path.join(release.source, ...f.path.split('/'));
    const fst = await deadline.bound(lstatOrUndefined(hostPath));
    const status = !fst ? 'missing' : !fst.isFile() ? 'not-regular' : fst.size !== f.size ? 'size' : 'ok';
    if (status !== 'ok') base.badFiles.push({ artifactId, path: f.path, hostPath, expected: f, status, ...(fst?.isFile() ? { actualSize: fst.size } : {}) });
  }
  if (base.badFiles.length) return { ...base, state: 'unverified', message: `${artifactId}: the release ${release.source} does not hold its files: ${base.badFiles.map(describeBadFile).join('; ')}.` };
  return { ...base, state: 'ok', message: `${artifactId}: the release ${release.source} holds the verified files.` };
}

/** Throw a ComposeError naming every artifact whose host folder cannot be mounted as is. */
export async function checkMountSources(manifest: Manifest, artifacts: readonly Artifact[], opts: MountSourceOptions = {}): Promise<MountSourceStatus[]> {
  const statuses = await inspectMountSources(manifest, artifacts, opts);
  const bad = statuses.filter((s) => s.state !== 'ok');
  if (bad.length > 0) {
    const states = new Set(bad.map((b) => b.state));
    const code = states.size === 1 ? MOUNT_SOURCE_CODES[[...states][0] as Exclude<MountSourceState, 'ok'>] : 'EMOUNT_SOURCE';
    throw new ComposeError(
      `Cannot mount ${bad.length === 1 ? 'an artifact' : `${bad.length} artifacts`}: Docker would mount an empty or wrong folder.\n${bad.map((b) => `  - ${b.message}`).join('\n')}`,
      {
        code,
        hint: `Run \`${commandFor('update')}\` to install the verified files, then run this command again.`,
        data: { artifacts: bad.map((b) => ({ id: b.artifactId, source: b.source, state: b.state, files: b.badFiles.map((f) => ({ path: f.path, status: f.status })) })) },
      },
    );
  }
  return statuses;
}
