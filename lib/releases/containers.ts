/**
 * Which containers run which models: the containers of the listed services (running and stopped,
 * `compose ps -a`, one-off `run` containers left out), read with `docker inspect`: the release
 * folders they mount, the `io.modelmount.*` labels the override gave them, and the image's optional
 * `io.modelmount.expects` label. Also every container of the engine that mounts a release (gc).
 */
import path from 'node:path';
import type { Shell } from 'zx';
import { cleanContainerPath } from '../compose/parse-config.ts';
import type { ComposeEngine } from '../compose/engine.ts';
import { composeFilesWithOverride, composeSettingsOf, existingComposeFiles, EXPECTS_LABEL, SET_LABEL } from '../compose/override.ts';
import { containerPathOf, releasesDir } from '../layout.ts';
import type { Manifest } from '../manifest/schema.ts';
import { isSameOrInside } from '../path-inside.ts';
import { releaseDir } from '../layout.ts';
import { currentSet, type ReleaseRecord } from './record.ts';

export interface InspectedContainer {
  Id: string;
  Name: string;
  Image?: string;
  State?: { Status?: string; Running?: boolean; Health?: { Status?: string } };
  Config?: { Labels?: Record<string, string> | null; Image?: string };
  Mounts?: { Type?: string; Source?: string; Destination?: string; RW?: boolean }[];
}

export interface ModelContainer {
  id: string;
  name: string;
  service: string;
  state: string;
  running: boolean;
  /** the set this container runs: its label, else the kept set whose releases it mounts */
  set: string | null;
  /** per artifact id, the release digest it mounts (null: not from a release) */
  artifacts: Record<string, string | null>;
  /** true when it mounts exactly the current set's releases; null when there is no current set */
  current: boolean | null;
  image: string;
  /** the image's io.modelmount.expects label, when it has one */
  expects?: string;
}

/** `docker inspect` of ids (best effort: a container gone meanwhile is left out). */
export async function inspectContainers(sh: Shell, ids: string[]): Promise<InspectedContainer[]> {
  if (!ids.length) return [];
  const out = await sh`docker inspect ${ids}`;
  if (out.exitCode === 0) return JSON.parse(out.stdout) as InspectedContainer[];
  const each: InspectedContainer[] = [];
  for (const id of ids) {
    const one = await sh`docker inspect ${id}`;
    if (one.exitCode === 0) each.push(...(JSON.parse(one.stdout) as InspectedContainer[]));
  }
  return each;
}

/** `compose -f <base…> -f <override>` with absolute paths (the project folder is the first file's). */
export function composeArgv(manifest: Manifest, engine: Pick<ComposeEngine, 'command'>): string[] {
  const files = composeFilesWithOverride(composeSettingsOf(manifest));
  return [...engine.command, ...files.flatMap((f) => ['-f', f])];
}

export function composeCwd(manifest: Manifest): string {
  return path.dirname(composeSettingsOf(manifest).files[0]!);
}

/** The containers `compose ps` named, or why Compose could not say (then none are listed). */
export interface ServiceContainers {
  inspected: InspectedContainer[];
  /** `<command> failed (<first line of its error>)`: which containers are this project's is not known */
  unchecked?: string;
}

/**
 * The containers of the manifest's listed services in its own Compose project (Compose decides which
 * project: COMPOSE_PROJECT_NAME, `name:`, the folder), running and stopped, one-off `run` containers
 * left out. Another project's containers of a service with the same name are not these. Compose gets
 * the files doctor merges (existingComposeFiles: the override only once it exists).
 */
export async function inspectServiceContainers(manifest: Manifest, engine: Pick<ComposeEngine, 'command'>, sh: Shell, opts: { signal?: AbortSignal } = {}): Promise<ServiceContainers> {
  const compose = composeSettingsOf(manifest);
  const files = await existingComposeFiles(compose, opts);
  const ps = await sh({ cwd: composeCwd(manifest) })`${[...engine.command, ...files.flatMap((f) => ['-f', f]), 'ps', '-a', '-q', ...new Set(compose.services)]}`;
  if (ps.exitCode !== 0) {
    const why = `${ps.stderr}\n${ps.stdout}`.split('\n').map((l) => l.trim()).find(Boolean) ?? `exit ${ps.exitCode}`;
    return { inspected: [], unchecked: `\`${[...engine.command, 'ps'].join(' ')}\` failed (${why})` };
  }
  const ids = ps.stdout.split(/\s+/).filter(Boolean);
  return { inspected: (await inspectContainers(sh, ids)).filter((c) => c.Config?.Labels?.['com.docker.compose.oneoff'] !== 'True') };
}

/** The containers of the manifest's listed services (inspectServiceContainers; none when Compose cannot say), with the models each runs. */
export async function listModelContainers(manifest: Manifest, engine: Pick<ComposeEngine, 'command'>, sh: Shell, record: ReleaseRecord | undefined, opts: { signal?: AbortSignal } = {}): Promise<ModelContainer[]> {
  return describeModelContainers(manifest, (await inspectServiceContainers(manifest, engine, sh, opts)).inspected, sh, record);
}

/** The models each of the `inspected` containers runs, sorted by service and name. */
export async function describeModelContainers(manifest: Manifest, inspected: InspectedContainer[], sh: Shell, record: ReleaseRecord | undefined): Promise<ModelContainer[]> {
  const images = new Map<string, string | undefined>();
  const out: ModelContainer[] = [];
  for (const c of inspected) {
    const image = c.Config?.Image ?? c.Image ?? '';
    if (!images.has(image)) images.set(image, await imageLabel(sh, c.Image ?? image, EXPECTS_LABEL));
    out.push(describeContainer(manifest, c, record, images.get(image)));
  }
  return out.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.name < b.name ? -1 : 1));
}

async function imageLabel(sh: Shell, image: string, label: string): Promise<string | undefined> {
  if (!image) return undefined;
  const out = await sh`docker image inspect --format ${'{{json .Config.Labels}}'} ${image}`;
  if (out.exitCode !== 0) return undefined;
  try {
    const labels = JSON.parse(out.stdout) as Record<string, string> | null;
    return labels?.[label];
  } catch {
    return undefined;
  }
}

function describeContainer(manifest: Manifest, c: InspectedContainer, record: ReleaseRecord | undefined, expects?: string): ModelContainer {
  const compose = composeSettingsOf(manifest);
  const cur = currentSet(record);
  const ids = new Set([...Object.keys(cur?.artifacts ?? {}), ...(record?.sets ?? []).flatMap((s) => Object.keys(s.artifacts))]);
  const artifacts: Record<string, string | null> = {};
  for (const id of ids) {
    const target = containerPathOf(compose.containerDir, id);
    const m = (c.Mounts ?? []).find((x) => x.Type === 'bind' && x.Destination && cleanContainerPath(x.Destination) === target);
    if (!m?.Source) continue;
    const parent = path.dirname(m.Source);
    artifacts[id] = parent === path.dirname(releaseDir(manifest.hostDir, id, 'x')) ? path.basename(m.Source) : null;
  }
  const mountsSet = (s: NonNullable<typeof cur>) =>
    Object.entries(s.artifacts).every(([id, a]) => artifacts[id] === a.digest) && Object.keys(artifacts).every((id) => s.artifacts[id]);
  const label = c.Config?.Labels?.[SET_LABEL];
  const set = label ?? record?.sets.find(mountsSet)?.digest ?? null;
  return {
    id: c.Id.slice(0, 12),
    name: c.Name.replace(/^\//, ''),
    service: c.Config?.Labels?.['com.docker.compose.service'] ?? '',
    state: c.State?.Status ?? 'unknown',
    running: Boolean(c.State?.Running),
    set,
    artifacts,
    current: cur ? mountsSet(cur) : null,
    image: c.Config?.Image ?? c.Image ?? '',
    ...(expects ? { expects } : {}),
  };
}

/** Every release folder below `hostDir` that any container of the engine mounts, running or stopped. */
export async function releasesInUse(hostDir: string, sh: Shell): Promise<{ reachable: boolean; sources: Set<string> }> {
  const ps = await sh`docker ps -a -q --no-trunc`;
  if (ps.exitCode !== 0) return { reachable: false, sources: new Set() };
  const root = releasesDir(hostDir);
  const sources = new Set<string>();
  for (const c of await inspectContainers(sh, ps.stdout.split(/\s+/).filter(Boolean))) {
    for (const m of c.Mounts ?? []) if (m.Source && isSameOrInside(m.Source, root)) sources.add(path.resolve(m.Source));
  }
  return { reachable: true, sources };
}
