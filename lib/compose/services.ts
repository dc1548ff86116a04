/**
 * The one reader of a Compose document's `services` section: of `config` output (parseComposeConfig,
 * smoke's merged-config copy) and of the user's own Compose files as written (which services there
 * are, a service's image), where an unreadable file sets nothing.
 */
import path from 'node:path';
import type { Manifest } from '../manifest/schema.ts';
import { composeSettingsOf } from './override.ts';
import { includesOf, readComposeYaml, type ComposeReadOptions } from './read-compose-file.ts';

export type ComposeServices = Record<string, Record<string, unknown> | null>;

/**
 * The `services` section of a parsed Compose document, as it is (entries are the document's own
 * objects; a service written as `name:` with nothing is null); {} when there is none.
 */
export function servicesSection(doc: unknown): ComposeServices {
  const services = (doc as { services?: unknown } | null)?.services;
  return services && typeof services === 'object' && !Array.isArray(services) ? (services as ComposeServices) : {};
}

/** The networks a service lists (`networks:` as a list or a map). */
export function serviceNetworks(svc: Record<string, unknown> | null | undefined): string[] {
  const n = svc?.networks;
  if (Array.isArray(n)) return n.filter((x): x is string => typeof x === 'string');
  if (n && typeof n === 'object') return Object.keys(n);
  return [];
}

/** One Compose file as written: its services, and the files it includes (absolute, in order). */
export interface ComposeFileEntry {
  services: ComposeServices;
  includes: string[];
}

/** Compose files read in this run, by absolute path (compose-inputs.ts keeps one per run). */
export type ComposeFileCache = Map<string, Promise<ComposeFileEntry | undefined>>;

/**
 * Compose files as written, from one walk: the files given and those they include (recursively),
 * and the files their services `extends:` from. A file that cannot be read or parsed maps to
 * undefined (doctor reports Compose file problems with their lines); one that hangs ends the read
 * (ESTALLED, or the abort of the run's signal: read-compose-file.ts).
 */
export interface ComposeTree {
  /** the files given and those they include, in the order found, each with its services (an unreadable file adds nothing) */
  sections: { file: string; services: ComposeServices }[];
  /** every file read for it, those `extends:` names too */
  files: ReadonlyMap<string, ComposeFileEntry | undefined>;
}

const MAX_INCLUDE_DEPTH = 8;

/** The tree of `files`; a file already in `opts.cache` is not read again. */
export async function readComposeTree(files: readonly string[], opts: ComposeReadOptions & { cache?: ComposeFileCache } = {}): Promise<ComposeTree> {
  const cache = opts.cache ?? new Map();
  const read = new Map<string, ComposeFileEntry | undefined>();
  const load = async (file: string): Promise<ComposeFileEntry | undefined> => {
    let entry = cache.get(file);
    if (!entry) cache.set(file, (entry = readComposeEntry(file, opts)));
    read.set(file, await entry);
    return read.get(file);
  };
  const sections: ComposeTree['sections'] = [];
  const seen = new Set<string>();
  const visit = async (file: string, depth: number): Promise<void> => {
    if (seen.has(file) || depth > MAX_INCLUDE_DEPTH) return;
    seen.add(file);
    const entry = await load(file);
    if (!entry) return;
    sections.push({ file, services: entry.services });
    for (const inc of entry.includes) await visit(inc, depth + 1);
  };
  for (const f of files) await visit(path.resolve(f), 0);
  // then the files services extend from, along each chain (an extended file's own include: adds no service)
  const follow = async (file: string, entry: ComposeFileEntry | undefined, depth: number): Promise<void> => {
    for (const svc of Object.values(entry?.services ?? {})) {
      const from = extendsOf(svc, file);
      if (!from || read.has(from.file) || depth > MAX_INCLUDE_DEPTH) continue;
      await follow(from.file, await load(from.file), depth + 1);
    }
  };
  for (const { file } of [...sections]) await follow(file, read.get(file), 1);
  return { sections, files: read };
}

async function readComposeEntry(file: string, opts: ComposeReadOptions): Promise<ComposeFileEntry | undefined> {
  const p = await readComposeYaml(file, opts);
  if (!p) return undefined;
  let services: ComposeServices;
  try {
    services = servicesSection(p.doc.toJS());
  } catch {
    return undefined; // e.g. too many aliases: Compose says why
  }
  return { services, includes: includesOf(p).flatMap((i) => i.paths).map((f) => path.resolve(path.dirname(file), f)) };
}

const serviceIn = (section: ComposeServices | undefined, name: string) => (section && Object.hasOwn(section, name) ? section[name] : undefined);

/** The service a service `extends:` (`extends: name`, or `{service, file?}` with file relative to `file`'s folder). */
function extendsOf(svc: Record<string, unknown> | null | undefined, file: string): { file: string; service: string } | undefined {
  const ext = svc?.extends;
  if (typeof ext === 'string') return { file, service: ext };
  const { service, file: other } = (ext && typeof ext === 'object' ? ext : {}) as { service?: unknown; file?: unknown };
  if (typeof service !== 'string') return undefined;
  return { file: typeof other === 'string' ? path.resolve(path.dirname(file), other) : file, service };
}

/**
 * The profiles that enable any of `services`: their `profiles:` in the tree's files and the files
 * they include, with those of the services they `extends:` (Compose v2 and docker-compose 1.29 both
 * add the base service's profiles to the extending one's).
 */
export function serviceProfiles(tree: ComposeTree, services: readonly string[]): string[] {
  const profiles = new Set<string>();
  const add = (file: string, svc: Record<string, unknown> | null | undefined, seen: Set<string>): void => {
    const list = svc?.profiles;
    if (Array.isArray(list)) for (const p of list) if (typeof p === 'string') profiles.add(p);
    const from = extendsOf(svc, file);
    const key = from && `${from.file}\0${from.service}`;
    if (!from || !key || seen.has(key)) return;
    seen.add(key);
    add(from.file, serviceIn(tree.files.get(from.file)?.services, from.service), seen);
  };
  for (const { file, services: section } of tree.sections) {
    for (const name of services) if (Object.hasOwn(section, name)) add(file, section[name], new Set([`${file}\0${name}`]));
  }
  return [...profiles];
}

/** Services defined in the Compose files and the files they include (for the "which services?" question). */
export async function listComposeServices(files: readonly string[], opts: ComposeReadOptions = {}): Promise<string[]> {
  const names = new Set<string>();
  for (const { services } of (await readComposeTree(files, opts)).sections) for (const name of Object.keys(services)) names.add(name);
  return [...names];
}

/** The service's `image:` as the manifest's Compose files give it (the last file that sets one wins). */
export async function serviceImage(manifest: Manifest, service: string, opts: ComposeReadOptions = {}): Promise<string | undefined> {
  let image: string | undefined;
  const files = composeSettingsOf(manifest).files;
  for (const { services } of (await readComposeTree(files, opts)).sections) {
    const v = services[service]?.image;
    if (typeof v === 'string') image = v;
  }
  return image;
}
