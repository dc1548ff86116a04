/** status's report: one row per artifact of the manifest, the release sets, the containers. */
import type { ModelContainer } from '../releases/containers.ts';
import type { FileStatus } from '../verify/verify-files.ts';

export type InstalledState = 'verified' | 'missing' | 'incomplete' | 'damaged';

export interface ContainerMount {
  service: string;
  /** container name without the leading "/" */
  name: string;
  id: string;
  project?: string;
  mounted: boolean;
  readOnly?: boolean;
}

export interface ArtifactStatus {
  id: string;
  selected: boolean;
  optional: boolean;
  files: number;
  size: number;
  /** verified: every file matches; missing: none is there; incomplete: some missing, the rest verified; damaged: a file is wrong */
  installed: InstalledState;
  verified: boolean;
  problems: { path: string; status: Exclude<FileStatus, 'ok'> }[];
  /** every blob is in the store (size checked, not hashed): `update --offline` can (re)install it */
  inStore: boolean;
  /** from the install record: the source the files last came from ("store" when nothing was fetched) */
  source: string | null;
  installedAt: string | null;
  /** null when the manifest has no `compose:` section */
  override: { mounted: boolean; services: string[] } | null;
  /** null when containers were not checked (no compose section, --no-docker, no engine, or no Compose command, or a failing `compose ps`, to say which are this project's) */
  containers: ContainerMount[] | null;
}

export interface StatusReport {
  command: 'status';
  ok: true;
  manifest: string;
  hostDir: string;
  cacheDir: string;
  full: boolean;
  override: { path: string; exists: boolean } | null;
  /** checked: containers were looked for (false with --no-docker, no compose section, no Compose command, or `compose ps` failing) */
  docker: { checked: boolean; reachable: boolean; detail: string };
  artifacts: ArtifactStatus[];
  /** the release sets kept for this manifest, newest first, and which one the override mounts */
  releases: { current: string | null; sets: { digest: string; createdAt: string; current: boolean; artifacts: Record<string, string> }[] };
  /** containers of the listed services, running and stopped: the set each runs and whether it is current (null: Docker not asked) */
  containers: ModelContainer[] | null;
  /** ids this manifest's install record says it installed that the manifest no longer lists (gc removes them) */
  unlisted: string[];
  /** other manifests' installs in the same host folder (their own, not stale): manifest path and artifact ids */
  otherManifests: { manifest: string; artifacts: string[] }[];
  /**
   * modelmount's own records that could not be read (a symlinked or special `<hostDir>/.modelmount`,
   * state file or install record): status still reports (files hashed, the manifest's defaults as the
   * installed set) and exits 0; update, verify and gc refuse them (exit 5).
   */
  problems: { code: string; message: string; hint?: string }[];
}
