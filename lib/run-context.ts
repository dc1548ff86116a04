/**
 * What every run needs before it starts: the manifest, the resolved folders,
 * whether we may ask questions, and where output goes. Built from typed options
 * (the commands map their flags to ContextOptions).
 */
import os from 'node:os';
import path from 'node:path';
import { folderEnv, type DiskFolder, type FolderSetBy } from './disk-folder.ts';
import { shownDefaultCacheDir } from './default-store.ts';
import { defaultCacheDir } from './layout.ts';
import { UsageError } from './errors.ts';
import { checkFolders } from './manifest/folders.ts';
import { classifySourceUrl } from './manifest/source-url.ts';
import { loadManifest } from './manifest/load.ts';
import type { Manifest, ResolvedSource } from './manifest/schema.ts';
import { resolveSources } from './sources/resolve.ts';
import type { Source } from './sources/types.ts';
import { isCI, type Io } from './io.ts';
import { DEFAULT_MANIFEST } from './defaults.ts';

/** --manifest, --host-dir, --cache-dir, --source-url, --services, --jobs, --retries, --json, --yes */
export interface ContextOptions {
  /** the manifest path as given (relative to the cwd); default manifests/models.yaml */
  manifest?: string;
  hostDir?: string;
  cacheDir?: string;
  /** the command has --cache-dir (MODELS_CACHE_DIR): a hint may name it */
  cacheDirOption?: boolean;
  sourceUrl?: string;
  services?: string[];
  jobs?: number;
  retries?: number;
  json?: boolean;
  yes?: boolean;
}

/**
 * The folders a command works in: update, status, gc, publish and bootstrap use both, warm only the
 * store, the others only the host folder. A command that never uses the store never resolves nor
 * checks one: no home folder, or a store folder it could not use, cannot fail it.
 */
export type FoldersUsed = 'host and store' | 'store' | 'host';

/** What every run starts from (a command that uses the store has a StoreRunContext). */
export interface RunContext {
  /** with the folders of the run; a command that never uses the store has the manifest's own `cacheDir` there, unchecked (a Swarm node's store) */
  manifest: Manifest;
  hostDir: string;
  jobs: number;
  json: boolean;
  /** may we ask questions? TTY, no --yes, no CI, no --json */
  interactive: boolean;
  io: Io;
  /** messages for humans: stderr, so stdout stays clean for --json and pipes */
  log: (line: string) => void;
  makeSources: (preferred?: string) => Source[];
}

/** The run context of a command that uses the store: its folder is known. */
export interface StoreRunContext extends RunContext {
  cacheDir: string;
}


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

/** The manifest path the options name, absolute. */
export function manifestPathOf(opts: Pick<ContextOptions, 'manifest'>, io: Pick<Io, 'cwd'>): string {
  return path.resolve(io.cwd, opts.manifest ?? DEFAULT_MANIFEST);
}

/** `--source-url`: an extra source named "custom", tried first. */
function withCustomSource(sources: ResolvedSource[], url: string | undefined, cwd: string): ResolvedSource[] {
  if (!url) return sources;
  const c = classifySourceUrl(url, cwd);
  if ('error' in c) throw new UsageError(`--source-url: ${c.error}.`, { hint: c.fix });
  return [{ name: 'custom', kind: c.kind, base: c.base }, ...sources.filter((s) => s.name !== 'custom')];
}

/** What set `folder`: `given` (the option's value, from the command line or its environment variable), else the manifest's `fromManifest`. */
function setByOf(folder: DiskFolder, given: string | undefined, fromManifest: string | undefined, io: Io): FolderSetBy {
  if (given) return io.env[folderEnv(folder)] === given ? 'env' : 'option';
  return fromManifest ? 'manifest' : 'default';
}

type FolderOptions = Pick<ContextOptions, 'hostDir' | 'cacheDir' | 'cacheDirOption'>;

/** No store given and no home folder for the default one (HOME unset, a uid without a passwd entry): exit 2. */
function noHomeFolder(m: Manifest, opts: Pick<ContextOptions, 'cacheDirOption'>, io: Pick<Io, 'platform'>): never {
  const option = opts.cacheDirOption ? `pass --cache-dir DIR (or set MODELS_CACHE_DIR), ` : '';
  throw new UsageError(`No home folder is known (HOME is unset and this user has no passwd entry), so there is no default store folder (${shownDefaultCacheDir(io.platform)}).`, {
    code: 'ENOHOME',
    hint: `Say where the store goes: ${option}set XDG_CACHE_HOME (the store is then $XDG_CACHE_HOME/modelmount) or HOME, or add \`cacheDir:\` to ${m.path}.`,
  });
}

/**
 * The host folder and store of `m` after --host-dir / --cache-dir (or their environment
 * variables), checked by the same rules as the manifest's own (lib/manifest/folders.ts): exit 2 otherwise;
 * exit 5 (ESTALLED) when one does not answer. `signal`: the run's, an abort ends that wait at once.
 * `uses`: 'store' for a command that never touches the host folder (warm): it is not looked at on disk;
 * 'host' for one that never uses the store: the store is neither resolved nor checked, it is undefined.
 */
export async function resolveFolders(
  opts: FolderOptions,
  io: Io,
  m: Manifest,
  signal: AbortSignal | undefined,
  uses?: 'host and store' | 'store',
): Promise<{ hostDir: string; cacheDir: string }>;
export async function resolveFolders(
  opts: FolderOptions,
  io: Io,
  m: Manifest,
  signal: AbortSignal | undefined,
  uses: FoldersUsed,
): Promise<{ hostDir: string; cacheDir: string | undefined }>;
export async function resolveFolders(
  opts: FolderOptions,
  io: Io,
  m: Manifest,
  signal: AbortSignal | undefined,
  uses: FoldersUsed = 'host and store',
): Promise<{ hostDir: string; cacheDir: string | undefined }> {
  const hostDir = opts.hostDir ? path.resolve(io.cwd, opts.hostDir) : m.hostDir;
  const cacheDir = uses === 'host' ? undefined : opts.cacheDir ? path.resolve(io.cwd, opts.cacheDir) : (m.cacheDir ?? defaultCacheDir(io.env, io.platform) ?? noHomeFolder(m, opts, io));
  await checkFolders({
    hostDir,
    cacheDir,
    manifestPath: m.path,
    composeFiles: m.compose?.files,
    setBy: { host: setByOf('host', opts.hostDir, m.hostDir, io), cache: setByOf('cache', opts.cacheDir, m.cacheDir, io) },
    storeOnly: uses === 'store',
  }, { signal });
  return { hostDir, cacheDir };
}

/**
 * The run context of `opts`; `signal` (the run's) ends the wait on a folder that does not answer;
 * `uses`: the folders the command works in (resolveFolders).
 */
export async function loadRunContext(opts: ContextOptions, io: Io, signal: AbortSignal | undefined, uses?: 'host and store' | 'store'): Promise<StoreRunContext>;
export async function loadRunContext(opts: ContextOptions, io: Io, signal: AbortSignal | undefined, uses: 'host'): Promise<RunContext>;
export async function loadRunContext(opts: ContextOptions, io: Io, signal: AbortSignal | undefined, uses: FoldersUsed = 'host and store'): Promise<RunContext & { cacheDir?: string }> {
  const loaded = await loadManifest(manifestPathOf(opts, io), { env: io.env, signal });
  const json = Boolean(opts.json);
  const { hostDir, cacheDir } = await resolveFolders(opts, io, loaded, signal, uses);
  // --host-dir / --cache-dir / --source-url / --services win everywhere downstream (override writer, doctor, smoke) through the manifest itself
  const manifest: Manifest = { ...loaded, hostDir, cacheDir: uses === 'host' ? loaded.cacheDir : cacheDir, sources: withCustomSource(loaded.sources, opts.sourceUrl, io.cwd) };
  const services = opts.services;
  if (services?.length) {
    if (!manifest.compose) throw new UsageError('--services needs a `compose:` section in the manifest.', { hint: 'Add `compose: {files, services, override, containerDir}` to the manifest.' });
    manifest.compose = { ...manifest.compose, services };
  }
  const jobs = opts.jobs ?? manifest.jobs ?? defaultJobs();
  const interactive = io.isTTY && !opts.yes && !json && !isCI(io.env);
  return {
    manifest,
    hostDir,
    ...(cacheDir === undefined ? {} : { cacheDir }),
    jobs,
    json,
    interactive,
    io,
    log: (line) => io.stderr.write(`${line}\n`),
    makeSources: (preferred) =>
      resolveSources(manifest.sources, {
        preferred,
        http: { env: io.env, ...(io.clock ? { clock: io.clock } : {}), ...(opts.retries !== undefined ? { retry: { limit: opts.retries } } : {}) },
      }),
  };
}
