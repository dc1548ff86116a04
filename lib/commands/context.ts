/**
 * What every command needs before it starts: the manifest, the resolved folders,
 * whether we may ask questions, and where output goes.
 */
import os from 'node:os';
import path from 'node:path';
import { defaultCacheDir } from '../layout.ts';
import { UsageError } from '../errors.ts';
import { checkFolders } from '../manifest/folders.ts';
import { loadManifest } from '../manifest/load.ts';
import { classifySourceUrl } from '../manifest/source-url.ts';
import type { Manifest, ResolvedSource } from '../manifest/schema.ts';
import type { CommonFlag, SomeFlags } from '../cli/args.ts';
import type { JSON_FLAG, LocationFlag, SelectionFlag, SERVICES_FLAG } from './specs.ts';
import { resolveSources } from '../sources/resolve.ts';
import type { Source } from '../sources/types.ts';
import { isCI, type Io } from '../io.ts';

export { isCI, processIo, type Io } from '../io.ts';

export interface CommandContext {
  manifest: Manifest;
  hostDir: string;
  cacheDir: string;
  jobs: number;
  json: boolean;
  /** may we ask questions? TTY, no --yes, no CI, no --json */
  interactive: boolean;
  io: Io;
  /** messages for humans: stderr, so stdout stays clean for --json and pipes */
  log: (line: string) => void;
  makeSources: (preferred?: string) => Source[];
}

/** The flags loadContext reads; a command has some of them. */
export type ContextFlags = SomeFlags<CommonFlag | LocationFlag | SelectionFlag | typeof JSON_FLAG | typeof SERVICES_FLAG>;
type FolderFlags = SomeFlags<Extract<LocationFlag, { name: 'host-dir' | 'cache-dir' }>>;

export const DEFAULT_MANIFEST = path.join('manifests', 'models.yaml');

/**
 * One transfer (and its hash worker) per core, at least 2, at most 4 (the hash pool's size).
 * Every response is received on the one main thread, and each transfer keeps a hash worker
 * busy: more transfers than cores only contend. Measured on the 2-core bench machine, 8 files
 * over loopback: 4 jobs 2.16–2.31 s, 2 jobs 1.87–1.91 s (medians). A slow, far server
 * (per-connection limits, long round trips) may want more: --jobs, MODELS_JOBS or `jobs:`.
 */
export function defaultJobs(): number {
  return Math.max(2, Math.min(4, os.availableParallelism()));
}

/** `--source-url`: an extra source named "custom", tried first. */
export function withCustomSource(sources: ResolvedSource[], url: string | undefined, cwd: string): ResolvedSource[] {
  if (!url) return sources;
  const c = classifySourceUrl(url, cwd);
  if ('error' in c) throw new UsageError(`--source-url: ${c.error}.`, { hint: c.fix });
  return [{ name: 'custom', kind: c.kind, base: c.base }, ...sources.filter((s) => s.name !== 'custom')];
}

function folderLabel(flags: FolderFlags, io: Io, name: 'host-dir' | 'cache-dir', env: string, field: string): string {
  if (!flags[name]) return field;
  return io.env[env] === flags[name] ? env : `--${name}`;
}

/**
 * The host folder and store of `m` after --host-dir / --cache-dir (or their environment
 * variables), checked by the same rules as the manifest's own (lib/manifest/folders.ts): exit 2 otherwise.
 */
export async function resolveFolders(flags: FolderFlags, io: Io, m: Manifest): Promise<{ hostDir: string; cacheDir: string }> {
  const hostDir = flags['host-dir'] ? path.resolve(io.cwd, flags['host-dir']) : m.hostDir;
  const cacheDir = flags['cache-dir'] ? path.resolve(io.cwd, flags['cache-dir']) : (m.cacheDir ?? defaultCacheDir(io.env));
  await checkFolders({
    hostDir,
    cacheDir,
    manifestPath: m.path,
    composeFiles: m.compose?.files,
    hostLabel: folderLabel(flags, io, 'host-dir', 'MODELS_HOST_DIR', 'hostDir'),
    cacheLabel: folderLabel(flags, io, 'cache-dir', 'MODELS_CACHE_DIR', m.cacheDir ? 'cacheDir' : 'the default store'),
  });
  return { hostDir, cacheDir };
}

export async function loadContext(flags: ContextFlags, io: Io): Promise<CommandContext> {
  const manifestPath = path.resolve(io.cwd, flags.manifest ?? DEFAULT_MANIFEST);
  const loaded = await loadManifest(manifestPath, { env: io.env });
  const json = Boolean(flags.json);
  const { hostDir, cacheDir } = await resolveFolders(flags, io, loaded);
  // --host-dir / --cache-dir / --source-url / --services win everywhere downstream (override writer, doctor, smoke) through the manifest itself
  const manifest: Manifest = { ...loaded, hostDir, cacheDir, sources: withCustomSource(loaded.sources, flags['source-url'], io.cwd) };
  const services = flags.services;
  if (services?.length) {
    if (!manifest.compose) throw new UsageError('--services needs a `compose:` section in the manifest.', { hint: 'Add `compose: {files, services, override, containerDir}` to the manifest.' });
    manifest.compose = { ...manifest.compose, services };
  }
  const jobs = flags.jobs ?? manifest.jobs ?? defaultJobs();
  const interactive = io.isTTY && !flags.yes && !json && !isCI(io.env);
  return {
    manifest,
    hostDir,
    cacheDir,
    jobs,
    json,
    interactive,
    io,
    log: (line) => io.stderr.write(`${line}\n`),
    makeSources: (preferred) =>
      resolveSources(manifest.sources, {
        preferred,
        http: { env: io.env, ...(io.clock ? { clock: io.clock } : {}), ...(flags.retries !== undefined ? { retry: { limit: flags.retries } } : {}) },
      }),
  };
}
