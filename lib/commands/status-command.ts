/**
 * `modelmount status`: one row per artifact of the manifest — selected or not,
 * installed and verified (state cache; --full re-hashes), size, the source it
 * last came from (install record), whether the current Compose override mounts
 * it, and, when a Docker engine answers, whether the running containers of the
 * listed services really have it mounted (`docker inspect` Mounts). Read-only:
 * it creates nothing (the verified-state cache is updated only for files it hashed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Shell } from 'zx';
import { loadShell } from '../shell.ts';
import type { ParsedFlags } from '../cli/args.ts';
import type { CommandSpec } from '../cli/command.ts';
import { cleanContainerPath, parseComposeConfig } from '../compose/parse-config.ts';
import { listInstallRecords, readInstallRecord, type InstallRecord } from '../install-record.ts';
import { artifactDir, blobPath, containerPathOf, releaseDir } from '../layout.ts';
import { mountSourceOf, type ReleaseMounts } from '../compose/override.ts';
import { detectCompose } from '../compose/engine.ts';
import { listModelContainers, type ModelContainer } from '../releases/containers.ts';
import { readReleaseRecord, releaseMountsOf } from '../releases/record.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import { formatBytes } from '../ui/format.ts';
import { checkHostFiles, verifyHostFiles, type FileStatus } from '../verify/verify-files.ts';
import { StateCache } from '../verify/state-cache.ts';
import { ExitCode, ModelmountError } from '../errors.ts';
import { readTextIfExists } from '../compose/override.ts';
import { selectArtifacts } from '../manifest/select.ts';
import { installedSelection, selectOptionsFromFlags } from './installed-selection.ts';
import { swarmCommand } from './swarm-command.ts';
import { dockerEngine } from '../smoke/engine.ts';
import { loadContext, type Io } from './context.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, SELECTION_FLAGS } from './specs.ts';
import { commandFor } from '../invocation.ts';

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
  /** null when containers were not checked (no compose section, --no-docker, or no engine) */
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

function installedState(statuses: FileStatus[]): InstalledState {
  if (statuses.every((s) => s === 'ok')) return 'verified';
  if (statuses.every((s) => s === 'missing')) return 'missing';
  if (statuses.every((s) => s === 'ok' || s === 'missing')) return 'incomplete';
  return 'damaged';
}

function samePath(a: string, b: string): boolean {
  return path.resolve(a).replace(/\/+$/, '') === path.resolve(b).replace(/\/+$/, '');
}

/** Which listed services the override file mounts each artifact into (read-only bind from its host folder). */
async function overrideMounts(manifest: Manifest, artifacts: readonly Artifact[], releases: ReleaseMounts): Promise<{ exists: boolean; byId: Map<string, string[]> }> {
  const byId = new Map<string, string[]>(artifacts.map((a) => [a.id, []]));
  const compose = manifest.compose!;
  const text = await readTextIfExists(compose.override).catch(() => undefined); // never blocks on a FIFO
  if (text === undefined) return { exists: false, byId };
  let parsed;
  try {
    parsed = parseComposeConfig(text);
  } catch {
    return { exists: true, byId }; // unreadable override: mounts nothing (doctor explains why)
  }
  for (const service of compose.services) {
    const svc = parsed.get(service);
    if (!svc) continue;
    for (const a of artifacts) {
      const target = containerPathOf(compose.containerDir, a.id);
      const ok = svc.mounts.some(
        (m) => m.type === 'bind' && m.readOnly && cleanContainerPath(m.target) === target && (samePath(m.source, mountSourceOf(manifest, a.id, releases)) || samePath(m.source, artifactDir(manifest.hostDir, a.id))),
      );
      if (ok) byId.get(a.id)!.push(service);
    }
  }
  return { exists: true, byId };
}

interface InspectedContainer {
  Id: string;
  Name: string;
  Config?: { Labels?: Record<string, string> | null };
  Mounts?: { Type?: string; Source?: string; Destination?: string; RW?: boolean }[];
}

/** Running containers of the listed services and, per artifact, whether each has it mounted. Undefined when no engine answers. */
async function containerMounts(
  manifest: Manifest,
  artifacts: readonly Artifact[],
  sh: Shell,
): Promise<{ reachable: boolean; detail: string; byId?: Map<string, ContainerMount[]> }> {
  const compose = manifest.compose!;
  const docker = await dockerEngine(sh);
  if ('reason' in docker) return { reachable: false, detail: docker.reason };
  const containers: { service: string; c: InspectedContainer }[] = [];
  for (const service of [...new Set(compose.services)]) {
    const ps = await sh`docker ps --no-trunc --filter ${`label=com.docker.compose.service=${service}`} --format ${'{{.ID}}'}`;
    const ids = ps.exitCode === 0 ? ps.stdout.split(/\s+/).filter(Boolean) : [];
    if (ids.length === 0) continue;
    const inspect = await sh`docker inspect ${ids}`;
    if (inspect.exitCode !== 0) continue; // gone meanwhile
    for (const c of JSON.parse(inspect.stdout) as InspectedContainer[]) containers.push({ service, c });
  }
  const byId = new Map<string, ContainerMount[]>();
  for (const a of artifacts) {
    const source = artifactDir(manifest.hostDir, a.id);
    // a container of any release of the artifact has it mounted (status says whether that release is current)
    const releasesOf = path.dirname(releaseDir(manifest.hostDir, a.id, 'x'));
    const realSource = await fs.realpath(source).catch(() => source);
    const target = containerPathOf(compose.containerDir, a.id);
    byId.set(
      a.id,
      containers.map(({ service, c }) => {
        const m = (c.Mounts ?? []).find(
          (x) =>
            x.Type === 'bind' &&
            x.Destination &&
            cleanContainerPath(x.Destination) === target &&
            x.Source &&
            (samePath(x.Source, source) || samePath(x.Source, realSource) || samePath(path.dirname(x.Source), releasesOf)),
        );
        const project = c.Config?.Labels?.['com.docker.compose.project'];
        return {
          service,
          name: c.Name.replace(/^\//, ''),
          id: c.Id.slice(0, 12),
          ...(project ? { project } : {}),
          mounted: Boolean(m),
          ...(m ? { readOnly: m.RW === false } : {}),
        };
      }),
    );
  }
  const n = containers.length;
  return { reachable: true, detail: `Docker ${docker.version}: ${n} running container${n === 1 ? '' : 's'} of ${compose.services.join(', ')}`, byId };
}

async function storeHolds(cacheDir: string, a: Artifact): Promise<boolean> {
  for (const f of a.files) {
    try {
      const st = await fs.lstat(blobPath(cacheDir, f.sha256));
      if (!st.isFile() || st.size !== f.size) return false;
    } catch {
      return false;
    }
  }
  return true;
}

export interface StatusDeps {
  /** zx shell for docker (tests pass one with another PATH); default zx's $ */
  $?: Shell;
  signal?: AbortSignal;
}

export async function gatherStatus(flags: ParsedFlags, io: Io, deps: StatusDeps = {}): Promise<StatusReport> {
  const ctx = await loadContext(flags, io);
  const { manifest } = ctx;
  // status always reports (exit 0): a record of its own it cannot read is shown, not thrown
  const problems: StatusReport['problems'] = [];
  const orReport = async <T>(work: () => Promise<T>, fallback: () => T | Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof ModelmountError) || err.exitCode !== ExitCode.disk) throw err;
      if (!problems.some((p) => p.message === err.message)) problems.push({ code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) });
      return fallback();
    }
  };
  const selected = new Set(
    (await orReport(() => installedSelection(ctx, flags), () => selectArtifacts(manifest, selectOptionsFromFlags(flags)))).map((a) => a.id),
  );
  const all = manifest.artifacts;
  const verifyOpts = { full: Boolean(flags.full), jobs: ctx.jobs, signal: deps.signal };
  const checks = await orReport(
    () => verifyHostFiles(ctx.hostDir, all, verifyOpts),
    () => checkHostFiles(ctx.hostDir, all, StateCache.none(), verifyOpts), // hash every file: the cache cannot be trusted
  );
  const record: InstallRecord | undefined = await orReport(() => readInstallRecord(ctx.hostDir, ctx.manifest.path), () => undefined);
  const others = await orReport(() => listInstallRecords(ctx.hostDir), () => []);
  const releaseRecord = await orReport(() => readReleaseRecord(ctx.hostDir, manifest.path), () => undefined);
  const override = manifest.compose ? await overrideMounts(manifest, all, releaseMountsOf(ctx.hostDir, releaseRecord, all)) : undefined;
  let modelContainers: ModelContainer[] | null = null;

  let docker: StatusReport['docker'] = { checked: false, reachable: false, detail: 'not checked' };
  let containers: Map<string, ContainerMount[]> | undefined;
  if (!manifest.compose) docker.detail = 'not checked: the manifest has no compose section';
  else if (flags.docker === false) docker.detail = 'not checked (--no-docker)';
  else {
    const sh = (deps.$ ?? (await loadShell()))({ quiet: true, nothrow: true, timeout: '20s', env: io.env, cwd: io.cwd });
    const found = await containerMounts(manifest, all, sh);
    docker = { checked: true, reachable: found.reachable, detail: found.detail };
    containers = found.byId;
    if (found.reachable) {
      const engine = await detectCompose({ $: deps.$, env: io.env, cwd: io.cwd }).catch(() => undefined);
      if (engine) modelContainers = await listModelContainers(manifest, engine, sh, releaseRecord);
    }
  }

  const artifacts: ArtifactStatus[] = [];
  for (const a of all) {
    const mine = checks.filter((c) => c.artifactId === a.id);
    const statuses = mine.map((c) => c.status);
    const rec = record?.artifacts[a.id];
    artifacts.push({
      id: a.id,
      selected: selected.has(a.id),
      optional: a.optional,
      files: a.files.length,
      size: a.files.reduce((s, f) => s + f.size, 0),
      installed: installedState(statuses),
      verified: statuses.every((s) => s === 'ok'),
      problems: mine.filter((c) => c.status !== 'ok').map((c) => ({ path: c.path, status: c.status as Exclude<FileStatus, 'ok'> })),
      inStore: await storeHolds(ctx.cacheDir, a),
      source: rec?.source ?? null,
      installedAt: rec?.installedAt ?? null,
      override: override ? { mounted: (override.byId.get(a.id) ?? []).length === manifest.compose!.services.length, services: override.byId.get(a.id) ?? [] } : null,
      containers: containers?.get(a.id) ?? null,
    });
  }
  return {
    command: 'status',
    ok: true,
    manifest: manifest.path,
    hostDir: ctx.hostDir,
    cacheDir: ctx.cacheDir,
    full: Boolean(flags.full),
    override: manifest.compose ? { path: manifest.compose.override, exists: Boolean(override?.exists) } : null,
    docker,
    artifacts,
    releases: {
      current: releaseRecord?.current ?? null,
      sets: (releaseRecord?.sets ?? []).map((x) => ({
        digest: x.digest,
        createdAt: x.createdAt,
        current: x.digest === releaseRecord?.current,
        artifacts: Object.fromEntries(Object.entries(x.artifacts).map(([id, a]) => [id, a.digest])),
      })),
    },
    containers: modelContainers,
    unlisted: [...new Set([...Object.keys(record?.artifacts ?? {}), ...Object.keys(record?.released ?? {})])].filter((id) => !all.some((a) => a.id === id)),
    otherManifests: others
      .filter(({ record: r }) => path.resolve(r.manifestPath) !== manifest.path)
      .map(({ record: r }) => ({ manifest: r.manifestPath, artifacts: Object.keys(r.artifacts) })),
    problems,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatStatus(r: StatusReport): string {
  const rows = [['ARTIFACT', 'SELECTED', 'INSTALLED', 'SIZE', 'SOURCE', 'OVERRIDE', 'CONTAINERS']];
  for (const a of r.artifacts) {
    const installed = a.installed === 'verified' || a.installed === 'missing' ? a.installed : `${a.installed} (${a.problems.length} file${a.problems.length === 1 ? '' : 's'})`;
    const override = a.override === null ? '-' : a.override.mounted ? 'mounted' : a.override.services.length ? `partly (${a.override.services.join(',')})` : 'no';
    const containers =
      a.containers === null ? '-' : a.containers.length === 0 ? 'none running' : a.containers.map((c) => `${c.name}: ${c.mounted ? (c.readOnly ? 'mounted ro' : 'mounted RW') : 'NOT mounted'}`).join(', ');
    rows.push([a.id, a.selected ? 'yes' : 'no', installed, formatBytes(a.size), a.source ?? '-', override, containers]);
  }
  const lines = [table(rows), ''];
  for (const p of r.problems) lines.push(`✖ ${p.message}${p.hint ? `\n  → ${p.hint}` : ''}`);
  if (r.problems.length) lines.push('  (the table above does without them: every file hashed, the manifest\'s defaults taken as the installed set)', '');
  lines.push(`Host folder: ${r.hostDir}${r.full ? ' (every file re-hashed)' : ' (verified-state cache; --full re-hashes)'}`);
  if (r.override) lines.push(`Override: ${r.override.path}${r.override.exists ? '' : ` (not written yet: ${commandFor('update')} writes it)`}`);
  lines.push(`Containers: ${r.docker.detail}`);
  if (r.releases.current) lines.push(`Release set: ${r.releases.current.slice(0, 12)} (current); kept: ${r.releases.sets.filter((x) => !x.current).map((x) => x.digest.slice(0, 12)).join(', ') || 'none'}`);
  for (const c of r.containers ?? []) {
    lines.push(`  ${c.name} (${c.service}, ${c.state}): set ${c.set ? c.set.slice(0, 12) : '-'} ${c.current === null ? '' : c.current ? 'current' : `OUTDATED (${commandFor('apply')})`}`.trimEnd());
  }
  for (const a of r.artifacts) for (const p of a.problems) if (p.status !== 'missing') lines.push(`  ✖ ${a.id}/${p.path}: ${p.status}`);
  const wrong = r.artifacts.filter((a) => a.selected && !a.verified);
  if (wrong.length) lines.push(`  → run \`${commandFor('update')}\` to install or repair ${wrong.map((a) => a.id).join(', ')}.`);
  for (const o of r.otherManifests) if (o.artifacts.length) lines.push(`Also in this host folder, installed for ${o.manifest}: ${o.artifacts.join(', ')}.`);
  if (r.unlisted.length) lines.push(`Installed but no longer in the manifest: ${r.unlisted.join(', ')} (\`${commandFor('gc')}\` removes what nothing references).`);
  return `${lines.join('\n')}\n`;
}

export const statusCommand: CommandSpec = {
  name: 'status',
  summary: 'per artifact: selected, installed and verified, size, source, mounted by the override and by running containers',
  usage: 'modelmount status [ID...] [--full] [--only IDS] [--labels K=V] [--no-docker] [--json]',
  operands: 'artifacts',
  flags: [
    { name: 'full', type: 'boolean', help: 're-hash every installed file instead of trusting the verified-state cache' },
    ...pickFlags(SELECTION_FLAGS, 'only', 'labels', 'include-optional'),
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'cache-dir', 'jobs'),
    { name: 'docker', type: 'boolean', defaultTrue: true, env: 'MODELS_STATUS_DOCKER', help: 'do not ask Docker which running containers have the artifacts mounted' },
    { name: 'swarm', type: 'boolean', help: 'on a Swarm manager: per node, the set it holds and the tasks there (= modelmount swarm status)' },
    JSON_FLAG,
  ],
  details: 'SELECTED marks the installed set (what update installed, which the override mounts); arguments or selection flags mark those artifacts instead. Every artifact of the manifest is listed. Exit status 0 whatever the state, also when modelmount\'s own records cannot be read (a link or special file in <hostDir>/.modelmount: shown as a problem; use `verify` to fail on a bad install).',
  async run(flags, io, signal) {
    if (flags.swarm) return swarmCommand.run({ ...flags, _: ['status'] }, io, signal);
    const report = await gatherStatus(flags, io, { signal });
    io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    return 0;
  },
};
