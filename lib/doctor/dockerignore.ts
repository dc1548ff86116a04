/**
 * Which selected artifacts each build context's ignore file keeps out of the image. Read once by
 * runDoctor: dockerignore-excludes-artifacts reports it, and the mount check leaves those
 * artifacts' missing mounts to it.
 */
import dockerignoreModule from '@balena/dockerignore';
import path from 'node:path';
import type { MergedConfig } from '../compose/parse-config.ts';
import { readTextIfExists } from '../compose/override.ts';
import { artifactDir } from '../layout.ts';
import type { Artifact, ComposeSettings, Manifest } from '../manifest/schema.ts';
import { relativeInside } from '../path-inside.ts';

// CommonJS module: Node hands ESM the function itself, TypeScript (NodeNext) sees `{ default }`; the package sets both.
const dockerignore = dockerignoreModule.default;

export interface DockerignoreMatch {
  excluded: boolean;
  /** 1-based line of the pattern that decides (last match wins) */
  line?: number;
  pattern?: string;
  /** the context-relative path that matched */
  path?: string;
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/**
 * Is `relPaths` (context-relative POSIX paths, no trailing slash) excluded by
 * the `.dockerignore` text, and which line decides? Docker semantics via
 * @balena/dockerignore (`ignorecase: false`): anchored at the context root,
 * `**` any depth, `!` exceptions, last match wins, case-sensitive; a path is
 * excluded when one of its parents is.
 */
export function matchDockerignore(text: string, relPaths: readonly string[]): DockerignoreMatch {
  const lines = text.split(/\r?\n/);
  const patterns: { line: number; pattern: string; negated: boolean; body: string }[] = [];
  lines.forEach((raw, i) => {
    const pattern = raw.trim();
    if (pattern === '' || pattern.startsWith('#')) return;
    const negated = pattern.startsWith('!');
    patterns.push({ line: i + 1, pattern, negated, body: negated ? pattern.slice(1).trim() : pattern });
  });
  const all = dockerignore({ ignorecase: false }).add(patterns.map((p) => p.pattern));
  for (const rel of relPaths) {
    if (!all.ignores(rel)) continue;
    let decisive: (typeof patterns)[number] | undefined;
    for (const p of patterns) {
      if (p.body === '') continue;
      if (dockerignore({ ignorecase: false }).add(p.body).ignores(rel)) decisive = p;
    }
    return { excluded: true, line: decisive && !decisive.negated ? decisive.line : undefined, pattern: decisive?.pattern, path: rel };
  }
  return { excluded: false };
}

interface BuildContext {
  dir: string;
  /** the ignore file that applies: <Dockerfile>.dockerignore (BuildKit) if present, else <context>/.dockerignore */
  ignoreFile: string;
  services: string[];
}

export interface IgnoreFacts {
  manifest: Manifest;
  compose: ComposeSettings;
  merged?: MergedConfig;
  selected: Artifact[];
}

async function buildContexts(ctx: IgnoreFacts): Promise<BuildContext[]> {
  const byDir = new Map<string, BuildContext>();
  const add = async (dir: string, dockerfile: string | undefined, service: string | undefined) => {
    let ignoreFile = path.join(dir, '.dockerignore');
    if (dockerfile) {
      const specific = `${path.resolve(dir, dockerfile)}.dockerignore`;
      if ((await readTextIfExists(specific)) !== undefined) ignoreFile = specific;
    }
    const key = `${dir}\0${ignoreFile}`;
    const entry = byDir.get(key) ?? { dir, ignoreFile, services: [] };
    if (service && !entry.services.includes(service)) entry.services.push(service);
    byDir.set(key, entry);
  };
  let fromServices = false;
  for (const service of ctx.compose.services) {
    const svc = ctx.merged?.get(service);
    if (svc?.buildContext && !/^[a-z]+:\/\//i.test(svc.buildContext) && !svc.buildContext.startsWith('git@')) {
      await add(path.resolve(path.dirname(ctx.compose.files[0] ?? ctx.manifest.path), svc.buildContext), svc.dockerfile, service);
      fromServices = true;
    }
  }
  if (!fromServices) await add(ctx.compose.context, undefined, undefined);
  return [...byDir.values()];
}

export interface IgnoreVerdict {
  /** the build context folder */
  dir: string;
  ignoreFile: string;
  /** false: there is no ignore file, nothing is excluded by one */
  exists: boolean;
  /** the services built from this context (every listed service when none names a build context) */
  services: string[];
  /** the selected artifacts inside the context that the ignore file excludes, in selection order */
  excluded: { artifact: Artifact; match: DockerignoreMatch }[];
}

/** One verdict per build context of the listed services (or the manifest's `compose.context` when none builds). */
export async function readIgnoreVerdicts(ctx: IgnoreFacts): Promise<IgnoreVerdict[]> {
  const verdicts: IgnoreVerdict[] = [];
  for (const bc of await buildContexts(ctx)) {
    const text = await readTextIfExists(bc.ignoreFile);
    const services = bc.services.length > 0 ? bc.services : ctx.compose.services;
    const excluded: IgnoreVerdict['excluded'] = [];
    if (text !== undefined) {
      for (const a of ctx.selected) {
        const rel = relativeInside(bc.dir, artifactDir(ctx.manifest.hostDir, a.id));
        if (!rel) continue; // outside this context: the mount checks decide
        const relDir = toPosix(rel);
        const match = matchDockerignore(text, [relDir, ...a.files.map((f) => `${relDir}/${f.path}`)]);
        if (match.excluded) excluded.push({ artifact: a, match });
      }
    }
    verdicts.push({ dir: bc.dir, ignoreFile: bc.ignoreFile, exists: text !== undefined, services, excluded });
  }
  return verdicts;
}
