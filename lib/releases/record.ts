/**
 * Release sets: which immutable release of each artifact the override mounts, per manifest
 * (`<hostDir>/.modelmount/release-sets/<manifest>-<hash>.json`), and the earlier sets kept for
 * `rollback` (`keepReleases`, default 3).
 *
 *   artifact digest  sha256 of the artifact's sorted `path\0size\0sha256` lines: names its release
 *                    folder `<hostDir>/.modelmount/releases/<artifact id>/<artifact digest>/`
 *   set digest       sha256 of the sorted `id\0artifact digest` lines: what a container runs,
 *                    written on each service as the label `io.modelmount.set`
 *
 * Pure helpers plus one atomic read/write; building a release folder is lib/releases/build.ts.
 */
import { createHash } from 'node:crypto';
import { readJsonIfExists, writeFileAtomic } from '../fs-atomic.ts';
import { refuseLinksBelow } from '../fs-safe.ts';
import { releaseDir, releaseSetsDir, releaseSetsPath, releasesDir } from '../layout.ts';
import type { ReleaseMounts } from '../compose/override.ts';
import type { Artifact, FileEntry, Manifest } from '../manifest/schema.ts';

export const DEFAULT_KEEP_RELEASES = 3;

export interface SetArtifact {
  digest: string;
  files: FileEntry[];
}

export interface ReleaseSet {
  digest: string;
  createdAt: string;
  artifacts: Record<string, SetArtifact>;
}

export interface ReleaseRecord {
  version: 1;
  manifestPath: string;
  /** digest of the set the override mounts */
  current: string;
  /** newest first; at most keepReleases */
  sets: ReleaseSet[];
}

export function artifactDigest(files: readonly FileEntry[]): string {
  const lines = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((f) => `${f.path}\0${f.size}\0${f.sha256}\n`);
  return createHash('sha256').update(lines.join('')).digest('hex');
}

export function setDigest(artifacts: Record<string, { digest: string }>): string {
  const lines = Object.entries(artifacts)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, a]) => `${id}\0${a.digest}\n`);
  return createHash('sha256').update(lines.join('')).digest('hex');
}

/** The release set of exactly these artifacts (as the manifest describes them). */
export function releaseSetOf(artifacts: readonly Artifact[], createdAt: string): ReleaseSet {
  const byId: Record<string, SetArtifact> = {};
  for (const a of artifacts) byId[a.id] = { digest: artifactDigest(a.files), files: a.files };
  return { digest: setDigest(byId), createdAt, artifacts: byId };
}

/** `set` becomes current and newest; the sets beyond `keep` leave the record (gc may then remove their releases). */
export function withCurrentSet(previous: ReleaseRecord | undefined, manifestPath: string, set: ReleaseSet, keep: number): ReleaseRecord {
  const existing = previous?.sets.find((s) => s.digest === set.digest);
  const others = (previous?.sets ?? []).filter((s) => s.digest !== set.digest);
  return { version: 1, manifestPath, current: set.digest, sets: [existing ?? set, ...others].slice(0, Math.max(1, keep)) };
}

export function currentSet(record: ReleaseRecord | undefined): ReleaseSet | undefined {
  return record?.sets.find((s) => s.digest === record.current);
}

/** The set `rollback` returns to: `to` (a digest or a unique prefix of one), else the one made before the current one. */
export function rollbackTarget(record: ReleaseRecord, to?: string): ReleaseSet | undefined {
  if (to) {
    const matches = record.sets.filter((s) => s.digest.startsWith(to.toLowerCase()));
    return matches.length === 1 ? matches[0] : undefined;
  }
  const i = record.sets.findIndex((s) => s.digest === record.current);
  return i >= 0 ? record.sets[i + 1] : record.sets[0];
}

function isRecord(x: unknown): x is ReleaseRecord {
  const r = x as ReleaseRecord | undefined;
  return r?.version === 1 && typeof r.current === 'string' && Array.isArray(r.sets);
}

/** `signal`: the run's (Ctrl+C, a lost run lock) ends a read of a hung mount at once. */
export async function readReleaseRecord(hostDir: string, manifestPath: string, opts: { signal?: AbortSignal } = {}): Promise<ReleaseRecord | undefined> {
  const r = await readJsonIfExists<unknown>(releaseSetsPath(hostDir, manifestPath), { folder: 'host', signal: opts.signal });
  return isRecord(r) ? r : undefined;
}

/** Release folders and records are modelmount's own: never made, written or removed through a symlink (exit 5). */
export async function refuseReleaseLinks(hostDir: string): Promise<void> {
  await refuseLinksBelow(hostDir, releasesDir(hostDir));
  await refuseLinksBelow(hostDir, releaseSetsDir(hostDir));
}

export async function writeReleaseRecord(hostDir: string, record: ReleaseRecord): Promise<void> {
  await refuseReleaseLinks(hostDir);
  await writeFileAtomic(releaseSetsPath(hostDir, record.manifestPath), `${JSON.stringify(record, null, 2)}\n`, 0o644, { folder: 'host' });
}

/** The releases of the current set for `artifacts` (an artifact outside the set, or with other files, is mounted from its plain folder). */
export function releaseMountsOf(hostDir: string, record: ReleaseRecord | undefined, artifacts: readonly Artifact[]): ReleaseMounts {
  const set = currentSet(record);
  const byId: ReleaseMounts['byId'] = {};
  if (!set) return { byId };
  for (const a of artifacts) {
    const r = set.artifacts[a.id];
    if (r) byId[a.id] = { source: releaseDir(hostDir, a.id, r.digest), digest: r.digest, files: r.files };
  }
  const ids = artifacts.map((a) => a.id).sort();
  const exact = ids.length === Object.keys(set.artifacts).length && ids.every((id) => set.artifacts[id]);
  return exact ? { set: set.digest, byId } : { byId };
}

/** The manifest's artifacts with the files of `set` (what a container of that set sees): for smoke tests after a switch. */
export function artifactsOfSet(manifest: Manifest, set: ReleaseSet): Artifact[] {
  return manifest.artifacts.filter((a) => set.artifacts[a.id]).map((a) => ({ ...a, files: set.artifacts[a.id]!.files }));
}

/** Every release folder the record keeps (the keep window): `<id>\0<digest>`. */
export function keptReleases(record: ReleaseRecord | undefined): Set<string> {
  const out = new Set<string>();
  for (const s of record?.sets ?? []) for (const [id, a] of Object.entries(s.artifacts)) out.add(`${id}\0${a.digest}`);
  return out;
}

/** The current releases of `artifacts` in the manifest's host folder (nothing when none was made yet). */
export async function currentReleaseMounts(manifest: Manifest, artifacts: readonly Artifact[], opts: { signal?: AbortSignal } = {}): Promise<ReleaseMounts> {
  return releaseMountsOf(manifest.hostDir, await readReleaseRecord(manifest.hostDir, manifest.path, opts), artifacts);
}
