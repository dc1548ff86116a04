/**
 * The switch between release sets. `update` records a new set once each of its releases is
 * complete and verified (recordReleaseSet); `rollback` and a failed `apply` go back to a kept set
 * (switchToSet): the record's `current` pointer changes, and `<hostDir>/<artifact id>` (the plain
 * folder for readers outside Compose) is brought to that set's files, an artifact at a time, staged
 * first and renamed in. The override is then rewritten by the caller (compose step), so Compose
 * mounts the set's release folders; containers keep what they mounted until they are recreated.
 */
import { commandFor } from '../invocation.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DiskError } from '../errors.ts';
import { fsyncDir } from '../fs-atomic.ts';
import { nextInstallRecord, readInstallRecord, writeInstallRecord, type InstallRecord } from '../install-record.ts';
import { hostFilePath, releaseDir } from '../layout.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import { discardStaged, placeStaged, stageFile, type StagedFile } from '../store/materialise.ts';
import { ensureRealDir } from '../fs-safe.ts';
import { StateCache } from '../verify/state-cache.ts';
import { cacheKey } from '../verify/verify-files.ts';
import { buildRelease, releaseIntact, type BuildReleaseDeps } from './build.ts';
import {
  DEFAULT_KEEP_RELEASES,
  readReleaseRecord,
  refuseReleaseLinks,
  releaseSetOf,
  withCurrentSet,
  writeReleaseRecord,
  type ReleaseRecord,
  type ReleaseSet,
} from './record.ts';

export interface ReleaseOutcome {
  /** the set the override now mounts */
  set: string;
  /** the set it mounted before, when another */
  previous?: string;
  changed: boolean;
  /** artifacts whose release folder was made by this run */
  built: string[];
}

export function keepReleasesOf(manifest: Manifest): number {
  return manifest.keepReleases ?? DEFAULT_KEEP_RELEASES;
}

/** After an install: make (or find) the release of every artifact, verified whole, then make their set current. */
export async function recordReleaseSet(manifest: Manifest, artifacts: readonly Artifact[], deps: BuildReleaseDeps, opts: { signal?: AbortSignal } = {}): Promise<ReleaseOutcome> {
  await refuseReleaseLinks(deps.hostDir);
  const set = releaseSetOf(artifacts, new Date().toISOString());
  const built: string[] = [];
  for (const a of artifacts) {
    if ((await buildRelease(deps, a.id, set.artifacts[a.id]!.digest, a.files)) === 'built') built.push(a.id);
  }
  const previous = await readReleaseRecord(deps.hostDir, manifest.path, opts);
  const next = withCurrentSet(previous, manifest.path, set, keepReleasesOf(manifest));
  if (JSON.stringify(next) !== JSON.stringify(previous)) await writeReleaseRecord(deps.hostDir, next);
  const before = previous?.current;
  return { set: set.digest, ...(before && before !== set.digest ? { previous: before } : {}), changed: before !== set.digest, built };
}

/**
 * Make `target` (a kept set) current: check each of its releases is still complete, bring the plain
 * artifact folders to its files, update the install record, then move the pointer. No network.
 */
export async function switchToSet(manifest: Manifest, record: ReleaseRecord, target: ReleaseSet, opts: { signal?: AbortSignal } = {}): Promise<ReleaseRecord> {
  const hostDir = manifest.hostDir;
  for (const [id, a] of Object.entries(target.artifacts)) {
    if (!(await releaseIntact(releaseDir(hostDir, id, a.digest), a.files))) {
      throw new DiskError(`The release ${releaseDir(hostDir, id, a.digest)} of ${id} is missing or incomplete: cannot switch to set ${target.digest.slice(0, 12)}.`, {
        code: 'ERELEASE_MISSING',
        hint: `Pick another set (\`${commandFor('rollback', '--to <digest>')}\`; \`${commandFor('status')}\` lists them), or run \`${commandFor('update')}\` to make the releases again.`,
      });
    }
  }
  const hostCache = await StateCache.loadHost(hostDir, opts);
  try {
    for (const [id, a] of Object.entries(target.artifacts)) await placeArtifactFromRelease(hostDir, id, a, hostCache);
  } finally {
    await hostCache.save();
  }
  const previous = await readInstallRecord(hostDir, manifest.path, opts);
  const now = new Date().toISOString();
  const artifacts: InstallRecord['artifacts'] = {};
  for (const [id, a] of Object.entries(target.artifacts)) {
    const prev = previous?.artifacts[id];
    artifacts[id] = { files: a.files, source: prev?.source ?? 'store', installedAt: now };
  }
  await writeInstallRecord(hostDir, nextInstallRecord(previous, { version: 1, manifestPath: manifest.path, manifestDigest: previous?.manifestDigest ?? manifest.digest, updatedAt: now, artifacts }));
  const next: ReleaseRecord = { ...record, current: target.digest };
  await writeReleaseRecord(hostDir, next);
  return next;
}

/** `<hostDir>/<id>/` gets the files of a release: every file staged (hardlinks) before the first is renamed in. */
async function placeArtifactFromRelease(hostDir: string, id: string, a: ReleaseSet['artifacts'][string], hostCache: StateCache): Promise<void> {
  const dir = releaseDir(hostDir, id, a.digest);
  const staged: { staged: StagedFile; key: string; sha256: string }[] = [];
  try {
    for (const f of a.files) {
      const dest = hostFilePath(hostDir, id, f.path);
      const src = path.join(dir, ...f.path.split('/'));
      const cur = await fs.lstat(dest, { bigint: true }).catch(() => undefined);
      const rel = await fs.lstat(src, { bigint: true });
      if (cur && cur.dev === rel.dev && cur.ino === rel.ino) continue; // already that file
      await ensureRealDir(hostDir, path.posix.dirname(`${id}/${f.path}`), 'host');
      staged.push({ staged: await stageFile(hostDir, src, dest, f), key: cacheKey(id, f.path), sha256: f.sha256 });
    }
    for (const s of staged) {
      await placeStaged(s.staged);
      // the release was verified whole when it was made: its inode carries the manifest's sha256
      hostCache.record(s.key, await fs.lstat(s.staged.dest, { bigint: true }), s.sha256);
    }
  } finally {
    await discardStaged(staged.map((s) => s.staged));
    for (const d of new Set(staged.map((s) => path.dirname(s.staged.dest)))) await fsyncDir(d);
  }
}
