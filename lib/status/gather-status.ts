/**
 * status: one row per artifact of the manifest — selected or not,
 * installed and verified (state cache; --full re-hashes), size, the source it
 * last came from (install record), whether the current Compose override mounts
 * it, and, when a Docker engine answers, whether the running containers of the
 * listed services really have it mounted (`docker inspect` Mounts). Read-only:
 * it creates nothing (the verified-state cache is updated only for files it hashed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Shell } from 'zx';
import { cleanContainerPath, parseComposeConfig } from '../compose/parse-config.ts';
import { samePath } from '../path-inside.ts';
import { detectCompose, type ComposeEngine } from '../compose/engine.ts';
import { mountSourceOf, readTextIfExists, type ReleaseMounts } from '../compose/override.ts';
import { ExitCode, ModelmountError } from '../errors.ts';
import { listInstallRecords, readInstallRecord, type InstallRecord } from '../install-record.ts';
import type { Io } from '../io.ts';
import { artifactDir, blobPath, containerPathOf, releaseDir } from '../layout.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import { selectArtifacts } from '../manifest/select.ts';
import { describeModelContainers, inspectServiceContainers, type InspectedContainer, type ModelContainer } from '../releases/containers.ts';
import { readReleaseRecord, releaseMountsOf } from '../releases/record.ts';
import { loadRunContext, type ContextOptions } from '../run-context.ts';
import { loadShell } from '../shell.ts';
import { dockerEngine } from '../smoke/engine.ts';
import { installedSelection, selectOptionsOf, type SelectionOptions } from '../update/installed-set.ts';
import { StateCache } from '../verify/state-cache.ts';
import { checkHostFiles, verifyHostFiles, type FileStatus, type VerifyOptions } from '../verify/verify-files.ts';
import type { ArtifactStatus, ContainerMount, InstalledState, StatusReport } from './report.ts';
function installedState(statuses: FileStatus[]): InstalledState {
  if (statuses.every((s) => s === 'ok')) return 'verified';
  if (statuses.every((s) => s === 'missing')) return 'missing';
  if (statuses.every((s) => s === 'ok' || s === 'missing')) return 'incomplete';
  return 'damaged';
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

/**
 * The running containers of the listed services in this Compose project (inspectServiceContainers) and, per
 * artifact, whether each has it mounted. Not reachable when no Docker engine answers; not checked
 * when no Compose command answers or `compose ps` fails (only Compose knows which containers are this project's).
 */
async function containerMounts(
  manifest: Manifest,
  artifacts: readonly Artifact[],
  sh: Shell,
  findEngine: () => Promise<ComposeEngine | undefined>,
): Promise<{ reachable: boolean; detail: string; inspected?: InspectedContainer[]; byId?: Map<string, ContainerMount[]> }> {
  const compose = manifest.compose!;
  const docker = await dockerEngine(sh);
  if ('reason' in docker) return { reachable: false, detail: docker.reason };
  const engine = await findEngine();
  if (!engine) return { reachable: true, detail: `Docker ${docker.version}; containers not checked: no Compose command (docker compose or docker-compose) answers` };
  const { inspected, unchecked } = await inspectServiceContainers(manifest, engine, sh);
  if (unchecked) return { reachable: true, detail: `Docker ${docker.version}; containers not checked: ${unchecked}` };
  const containers = inspected.filter((c) => c.State?.Running);
  const byId = new Map<string, ContainerMount[]>();
  for (const a of artifacts) {
    const source = artifactDir(manifest.hostDir, a.id);
    // a container of any release of the artifact has it mounted (status says whether that release is current)
    const releasesOf = path.dirname(releaseDir(manifest.hostDir, a.id, 'x'));
    const realSource = await fs.realpath(source).catch(() => source);
    const target = containerPathOf(compose.containerDir, a.id);
    byId.set(
      a.id,
      containers.map((c) => {
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
          service: c.Config?.Labels?.['com.docker.compose.service'] ?? '',
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
  return { reachable: true, detail: `Docker ${docker.version}: ${n} running container${n === 1 ? '' : 's'} of ${compose.services.join(', ')}`, inspected, byId };
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

/** --full, --docker, the selection, the context's flags */
export interface StatusOptions extends ContextOptions, SelectionOptions {
  /** re-hash every installed file */
  full?: boolean;
  /** false: do not ask Docker (--no-docker) */
  docker?: boolean;
}

export interface StatusDeps {
  /** zx shell for docker (tests pass one with another PATH); default zx's $ */
  $?: Shell;
  signal?: AbortSignal;
  /** the host files' check: its stall bound and stat worker (tests: a silent worker, a short bound) */
  verify?: Pick<VerifyOptions, 'idleMs' | 'statWorkerUrl'>;
}

export async function gatherStatus(opts: StatusOptions, io: Io, deps: StatusDeps = {}): Promise<StatusReport> {
  const ctx = await loadRunContext(opts, io, deps.signal);
  const { manifest } = ctx;
  // status always reports (exit 0): a record of its own it cannot read is shown, not thrown. A
  // stall (ESTALLED: the host folder does not answer) is thrown at once: a fallback would wait on
  // the same folder for the idle bound again, on the main thread, and fail the same way.
  const problems: StatusReport['problems'] = [];
  const orReport = async <T>(work: () => Promise<T>, fallback: () => T | Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof ModelmountError) || err.exitCode !== ExitCode.disk || err.code === 'ESTALLED') throw err;
      if (!problems.some((p) => p.message === err.message)) problems.push({ code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) });
      return fallback();
    }
  };
  const selected = new Set(
    (await orReport(() => installedSelection(ctx, opts, { signal: deps.signal }), () => selectArtifacts(manifest, selectOptionsOf(opts)))).map((a) => a.id),
  );
  const all = manifest.artifacts;
  const verifyOpts: VerifyOptions = { ...deps.verify, full: Boolean(opts.full), jobs: ctx.jobs, signal: deps.signal };
  const checks = await orReport(
    () => verifyHostFiles(ctx.hostDir, all, verifyOpts),
    () => checkHostFiles(ctx.hostDir, all, StateCache.none(), verifyOpts), // hash every file: the cache cannot be trusted
  );
  const record: InstallRecord | undefined = await orReport(() => readInstallRecord(ctx.hostDir, ctx.manifest.path, { signal: deps.signal }), () => undefined);
  const others = await orReport(() => listInstallRecords(ctx.hostDir), () => []);
  const releaseRecord = await orReport(() => readReleaseRecord(ctx.hostDir, manifest.path, { signal: deps.signal }), () => undefined);
  const override = manifest.compose ? await overrideMounts(manifest, all, releaseMountsOf(ctx.hostDir, releaseRecord, all)) : undefined;
  let modelContainers: ModelContainer[] | null = null;

  let docker: StatusReport['docker'] = { checked: false, reachable: false, detail: 'not checked' };
  let containers: Map<string, ContainerMount[]> | undefined;
  if (!manifest.compose) docker.detail = 'not checked: the manifest has no compose section';
  else if (opts.docker === false) docker.detail = 'not checked (--no-docker)';
  else {
    const sh = (deps.$ ?? (await loadShell()))({ quiet: true, nothrow: true, timeout: '20s', env: io.env, cwd: io.cwd });
    const found = await containerMounts(manifest, all, sh, () => detectCompose({ $: deps.$, env: io.env, cwd: io.cwd }).catch(() => undefined));
    docker = { checked: Boolean(found.byId) || !found.reachable, reachable: found.reachable, detail: found.detail };
    containers = found.byId;
    if (found.inspected) modelContainers = await describeModelContainers(manifest, found.inspected, sh, releaseRecord);
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
    full: Boolean(opts.full),
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
