/**
 * The one reader of a Compose document's `services` section: of `config` output (parseComposeConfig,
 * smoke's merged-config copy) and of the user's own Compose files as written (which services there
 * are, a service's image), where an unreadable file sets nothing.
 */
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readRegularFile } from '../fs-safe.ts';
import type { Manifest } from '../manifest/schema.ts';
import { composeSettingsOf } from './override.ts';

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

/**
 * The services section of each Compose file as written, in order. A file that cannot be read or
 * parsed (or is not a regular file: never blocks on a FIFO) sets nothing: Compose and doctor say why.
 */
export async function readFileServices(files: readonly string[]): Promise<ComposeServices[]> {
  const out: ComposeServices[] = [];
  for (const file of files) {
    try {
      out.push(servicesSection(parseYaml(await readRegularFile(file))));
    } catch {
      /* unreadable here: doctor reports Compose file problems with their lines */
    }
  }
  return out;
}

/** The profiles that enable any of `services` (their `profiles:` in the files and the files they include). */
export async function serviceProfiles(files: readonly string[], services: readonly string[]): Promise<string[]> {
  const profiles = new Set<string>();
  for (const section of await sectionsWithIncludes(files)) {
    for (const name of services) {
      const list = section[name]?.profiles;
      if (Array.isArray(list)) for (const p of list) if (typeof p === 'string') profiles.add(p);
    }
  }
  return [...profiles];
}

/** The files a Compose document includes (`include:` paths, or `{path: one or several}`), resolved against its folder. */
function includedFiles(doc: unknown, file: string): string[] {
  const include = (doc as { include?: unknown } | null)?.include;
  if (!Array.isArray(include)) return [];
  const paths = include.flatMap((item: unknown) => {
    const p = typeof item === 'string' ? item : (item as { path?: unknown } | null)?.path;
    return typeof p === 'string' ? [p] : Array.isArray(p) ? p.filter((x): x is string => typeof x === 'string') : [];
  });
  return paths.map((p) => path.resolve(path.dirname(file), p));
}

/**
 * The services sections of the Compose files and of the files they include, recursively, in the
 * order found. A file that cannot be read or parsed adds nothing (doctor reports Compose file problems).
 */
async function sectionsWithIncludes(files: readonly string[]): Promise<ComposeServices[]> {
  const out: ComposeServices[] = [];
  const seen = new Set<string>();
  const visit = async (file: string, depth: number): Promise<void> => {
    if (seen.has(file) || depth > 8) return;
    seen.add(file);
    let doc: unknown;
    try {
      doc = parseYaml(await readRegularFile(file));
    } catch {
      return;
    }
    out.push(servicesSection(doc));
    for (const inc of includedFiles(doc, file)) await visit(inc, depth + 1);
  };
  for (const f of files) await visit(path.resolve(f), 0);
  return out;
}

/** Services defined in the Compose files and the files they include (for the "which services?" question). */
export async function listComposeServices(files: readonly string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const services of await sectionsWithIncludes(files)) for (const name of Object.keys(services)) names.add(name);
  return [...names];
}

/** The service's `image:` as the manifest's Compose files give it (the last file that sets one wins). */
export async function serviceImage(manifest: Manifest, service: string): Promise<string | undefined> {
  let image: string | undefined;
  for (const services of await readFileServices(composeSettingsOf(manifest).files)) {
    const v = services[service]?.image;
    if (typeof v === 'string') image = v;
  }
  return image;
}
