/**
 * init: start a manifest in the user's project. Asks (or takes flags for) the host
 * folder, the folder of existing artifacts to hash into entries, their labels, the sources, the
 * Compose files, services and container folder, and the smoke command; writes a commented
 * manifest that `manifest check` accepts; in a Node project offers the `models:*` npm scripts;
 * offers COMPOSE_FILE in the project's .env so a plain `docker compose up` includes the override.
 * Every question is answered before anything is hashed or written: planInit asks, hashes and
 * renders; init-apply.ts writes.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { listComposeServices } from '../compose/services.ts';
import { composeInvocation } from '../compose/invocation.ts';
import { UsageError } from '../errors.ts';
import { pathExists } from '../fs-atomic.ts';
import { commandFor } from '../invocation.ts';
import { isCI, type Io } from '../io.ts';
import { scanArtifactFolder } from '../manifest/scan-artifact-folder.ts';
import { findArtifactFolders, renderInitManifest, type InitArtifact } from '../manifest/init.ts';
import { classifySourceUrl } from '../manifest/source-url.ts';
import { composeSchema, type Manifest } from '../manifest/schema.ts';
import { labelAnswerProblem, labelsFromFlags, parseOneLabelAnswer, splitList } from './init-answers.ts';
import { relativeInside } from '../path-inside.ts';
import { redactUrl } from '../redact.ts';
import { defaultJobs, manifestPathOf } from '../run-context.ts';
import * as prompts from '../ui/prompts.ts';
import { hashWithProgress } from './hash-progress.ts';
import { composeDefaultFiles } from '../compose/default-files.ts';
import { readComposeFileSetting, readDotEnvComposeFile, splitComposeFile } from '../compose/compose-file-setting.ts';
import { DEFAULT_MANIFEST, DEFAULT_HOST_DIR, DEFAULT_CONTAINER_DIR, DEFAULT_OVERRIDE_NAME } from '../defaults.ts';

/** the npm scripts init offers: script name → modelmount subcommand */
export const NPM_SCRIPTS: Record<string, string> = {
  'models:update': 'update',
  'models:verify': 'verify',
  'models:compose': 'compose',
  'models:doctor': 'doctor',
  'models:smoke': 'smoke',
  'models:status': 'status',
  'models:warm': 'warm',
  'models:gc': 'gc',
  'models:manifest': 'manifest',
  'models:bootstrap': 'bootstrap',
};

/** init's flags: undefined where a flag was not given (the question is open) */
export interface InitOptions {
  manifest?: string;
  hostDir?: string;
  from?: string;
  labels?: string[];
  sources?: string[];
  composeFiles?: string[];
  services?: string[];
  containerDir?: string;
  override?: string;
  smokeCommand?: string;
  npmScripts?: boolean;
  composeEnv?: boolean;
  force?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  jobs?: number;
}

/** relative to the current folder when inside it, else absolute */
export function shown(cwd: string, p: string): string {
  return relativeInside(cwd, p) || p;
}

/** A question nobody can answer here: say which flag answers it. */
function needFlag(what: string, example: string): UsageError {
  return new UsageError(`init needs ${what}, and there is no terminal to ask on.`, { hint: `Pass it as a flag, e.g. ${example} (\`${commandFor('init', '--help')}\` lists every flag).` });
}

async function holdsFiles(dir: string): Promise<boolean> {
  const entries = await fs.readdir(dir).catch(() => []);
  return entries.some((e) => e !== '.modelmount');
}

function checkSources(urls: string[], cwd: string): true | string {
  if (urls.length === 0) return 'Give at least one URL or folder.';
  for (const u of urls) {
    const c = classifySourceUrl(u, cwd);
    if ('error' in c) return `${redactUrl(u)}: ${c.error} (${c.fix}).`; // never repeat a password or a signed query
  }
  return true;
}

function checkContainerDir(dir: string): true | string {
  return composeSchema.shape.containerDir.safeParse(dir).success ? true : `${JSON.stringify(dir)} must be an absolute container path without a trailing slash, e.g. ${DEFAULT_CONTAINER_DIR}.`;
}

async function checkComposeFiles(files: string[], cwd: string): Promise<true | string> {
  for (const f of files) if (!(await pathExists(path.resolve(cwd, f)))) return `${f} does not exist (in ${cwd}).`;
  return true;
}

export interface InitPlan {
  manifestPath: string;
  text: string;
  manifest: Manifest;
  /** package.json to edit and the scripts to add (those it lacks) */
  npmScripts?: { file: string; add: Record<string, string>; kept: string[]; installed: boolean };
  /** .env to write COMPOSE_FILE into, and the value */
  composeEnv?: { file: string; value: string };
}

/** npm scripts that run modelmount on this manifest: `modelmount <cmd>` (+ --manifest when not the default). */
function npmScriptsFor(manifestPath: string, projectDir: string): Record<string, string> {
  const rel = path.relative(projectDir, manifestPath).split(path.sep).join('/');
  const manifestArg = rel === DEFAULT_MANIFEST.split(path.sep).join('/') ? '' : ` --manifest ${/^[A-Za-z0-9_./-]+$/.test(rel) ? rel : JSON.stringify(rel)}`;
  return Object.fromEntries(Object.entries(NPM_SCRIPTS).map(([name, cmd]) => [name, `modelmount ${cmd}${manifestArg}`]));
}

/**
 * COMPOSE_FILE for the .env next to the first Compose file: its current entries without the
 * override, the base files it lacks, then the override last (a file after it could replace its mounts).
 */
function composeFileValue(manifest: Manifest, envDir: string, current: string | undefined, separator: string): string {
  const wanted = composeInvocation(manifest, undefined, { cwd: envDir, pathDelimiter: separator }).composeFile.split(separator);
  const override = wanted.pop()!;
  const same = (a: string, b: string) => path.resolve(envDir, a) === path.resolve(envDir, b);
  const existing = splitComposeFile(current ?? '', separator).filter((e) => !same(e, override));
  return [...existing, ...wanted.filter((w) => !existing.some((e) => same(e, w))), override].join(separator);
}

/**
 * What a plain `docker compose` reads here: COMPOSE_FILE's files (the environment, else .env) without
 * the models override, else the default base file and the override file Compose adds to it.
 */
async function composeFilesReadHere(cwd: string, env: NodeJS.ProcessEnv, override: string | undefined): Promise<{ files: string[]; from?: string }> {
  const setting = await readComposeFileSetting(cwd, { env, cwd });
  if (!setting) return { files: (await composeDefaultFiles(cwd)).map((f) => shown(cwd, f)) };
  const ours = override !== undefined ? path.resolve(cwd, override) : path.join(path.dirname(setting.files[0]!), DEFAULT_OVERRIDE_NAME);
  return { files: setting.files.filter((f) => f !== ours).map((f) => shown(cwd, f)), from: setting.from };
}

/** Ask every open question, hash, render: nothing is written here. */
export async function planInit(opts: InitOptions, io: Io, signal: AbortSignal): Promise<InitPlan> {
  const cwd = io.cwd;
  const interactive = io.isTTY && !opts.yes && !isCI(io.env);
  const manifestPath = manifestPathOf(opts, io);
  if (!opts.force && !opts.dryRun && (await pathExists(manifestPath))) {
    throw new UsageError(`${shown(cwd, manifestPath)} already exists.`, {
      code: 'EEXIST',
      hint: `Add artifacts to it with \`${commandFor('manifest add', '<folder> --id <id>')}\`, write another with --manifest PATH, or replace it with --force.`,
    });
  }

  const hostDir = path.resolve(cwd, opts.hostDir !== undefined ? (opts.hostDir) : interactive ? await prompts.askHostDir(DEFAULT_HOST_DIR) : DEFAULT_HOST_DIR);

  let from: string;
  if (opts.from !== undefined) from = path.resolve(cwd, opts.from);
  else if (interactive) {
    const def = (await holdsFiles(hostDir)) ? shown(cwd, hostDir) : undefined;
    from = path.resolve(cwd, await prompts.askArtifactsFolder(def, async (v) => (v && (await fs.stat(path.resolve(cwd, v)).catch(() => undefined))?.isDirectory() ? true : `${v || 'an empty answer'} is not a folder.`)));
  } else if (await holdsFiles(hostDir)) from = hostDir;
  else throw needFlag('the folder of the artifacts to describe (one sub-folder per artifact)', '--from ./artifacts');
  const folders = await findArtifactFolders(from);
  // every folder is checked (symlinks, unsafe names) before anything is asked or hashed
  const scanned = [];
  for (const f of folders) scanned.push({ ...f, files: await scanArtifactFolder(f.folder) });
  const ids = folders.map((f) => f.id);

  let labels: Map<string, Record<string, string>>;
  if (opts.labels !== undefined) labels = labelsFromFlags(opts.labels, ids);
  else {
    labels = new Map(ids.map((id) => [id, {}]));
    if (interactive) for (const id of ids) labels.set(id, parseOneLabelAnswer(await prompts.askArtifactLabels(id, labelAnswerProblem)));
  }

  let sources: string[];
  if (opts.sources !== undefined) {
    sources = opts.sources;
    const problem = checkSources(sources, cwd);
    if (problem !== true) throw new UsageError(`--sources: ${problem}`, { hint: 'e.g. --sources https://models.example.com/ml/ (where <artifact id>/<file> is served), or a folder path.' });
  } else if (interactive) sources = splitList(await prompts.askSourceUrls((v) => checkSources(splitList(v), cwd)));
  else throw needFlag('the sources the artifacts are downloaded from', '--sources https://models.example.com/ml/ (serving <artifact id>/<file>), or a folder path');
  // folders are written relative to the manifest (or absolute outside the project): resolve them against where the user typed them
  sources = sources.map((s) => (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(s) ? s : path.resolve(cwd, s)));

  const detected = await composeFilesReadHere(cwd, io.env, opts.override);
  let composeFiles: string[];
  if (opts.composeFiles !== undefined) {
    composeFiles = opts.composeFiles;
    const problem = await checkComposeFiles(composeFiles, cwd);
    if (problem !== true) throw new UsageError(`--compose-files: ${problem}`, { hint: 'Name your base Compose files, e.g. --compose-files compose.yaml.' });
  } else if (interactive) composeFiles = splitList(await prompts.askComposeFiles(detected.files, (v) => checkComposeFiles(splitList(v), cwd)));
  else {
    composeFiles = detected.files;
    const problem = await checkComposeFiles(composeFiles, cwd);
    if (problem !== true) throw new UsageError(`${detected.from}: ${problem}`, { hint: 'Fix COMPOSE_FILE, or name your base Compose files with --compose-files, e.g. --compose-files compose.yaml.' });
  }
  composeFiles = composeFiles.map((f) => path.resolve(cwd, f));

  let compose: Parameters<typeof renderInitManifest>[0]['compose'];
  let smokeCommand: string | undefined;
  if (composeFiles.length) {
    const all = await listComposeServices(composeFiles, { signal });
    if (all.length === 0) throw new UsageError(`${composeFiles.map((f) => shown(cwd, f)).join(', ')} define${composeFiles.length === 1 ? 's' : ''} no services.`, { hint: 'Name the Compose files that define your services with --compose-files.' });
    let services: string[];
    if (opts.services !== undefined) {
      services = opts.services;
      const unknown = services.filter((s) => !all.includes(s));
      if (unknown.length) throw new UsageError(`--services: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not defined in ${composeFiles.map((f) => shown(cwd, f)).join(', ')}.`, { hint: `The services there: ${all.join(', ')}.` });
    } else if (all.length === 1) services = all;
    else if (interactive) services = await prompts.askServices(all, []);
    else throw needFlag(`the services that load the models (${all.join(', ')})`, `--services ${all[0]}`);

    let containerDir: string;
    if (opts.containerDir !== undefined) {
      containerDir = opts.containerDir;
      const problem = checkContainerDir(containerDir);
      if (problem !== true) throw new UsageError(`--container-dir: ${problem}`);
    } else containerDir = interactive ? await prompts.askContainerDir(DEFAULT_CONTAINER_DIR, checkContainerDir) : DEFAULT_CONTAINER_DIR;
    const override = opts.override !== undefined ? path.resolve(cwd, opts.override) : path.join(path.dirname(composeFiles[0]!), DEFAULT_OVERRIDE_NAME);
    compose = { files: composeFiles, services, override, containerDir };
    smokeCommand = opts.smokeCommand !== undefined ? (opts.smokeCommand) : interactive ? await prompts.askSmokeCommand() : undefined;
  } else if (opts.services !== undefined || opts.smokeCommand !== undefined) {
    throw new UsageError('--services and --smoke-command need Compose files, and none were found here.', { hint: 'Name them with --compose-files compose.yaml.' });
  }

  // the questions about files init would edit: asked now too, so nothing waits after the hashing
  const projectDir = cwd;
  const packageJson = path.join(projectDir, 'package.json');
  const scripts = npmScriptsFor(manifestPath, projectDir);
  let npmScripts: InitPlan['npmScripts'];
  if (await pathExists(packageJson)) {
    const pkg = JSON.parse(await fs.readFile(packageJson, 'utf8')) as { scripts?: Record<string, string>; dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    const installed = Boolean(pkg.dependencies?.modelmount ?? pkg.devDependencies?.modelmount);
    const add = Object.fromEntries(Object.entries(scripts).filter(([name]) => pkg.scripts?.[name] === undefined));
    const kept = Object.keys(scripts).filter((name) => pkg.scripts?.[name] !== undefined && pkg.scripts[name] !== scripts[name]);
    const want = opts.npmScripts !== undefined ? Boolean(opts.npmScripts) : interactive && Object.keys(add).length > 0 ? await prompts.confirmNpmScripts(Object.keys(add)) : false;
    if (want) npmScripts = { file: packageJson, add, kept, installed };
  } else if (opts.npmScripts !== undefined && opts.npmScripts) {
    throw new UsageError(`--npm-scripts: there is no package.json in ${projectDir} (not a Node project).`, { hint: 'Leave out --npm-scripts; run modelmount with npx modelmount <command>.' });
  }

  const artifacts: InitArtifact[] = [];
  for (const s of scanned) {
    const files = await hashWithProgress(s.files, shown(cwd, s.folder), io, { jobs: opts.jobs ?? defaultJobs(), json: false, signal });
    artifacts.push({ id: s.id, labels: labels.get(s.id) ?? {}, files });
  }
  signal.throwIfAborted();
  const { text, manifest } = renderInitManifest({ manifestPath, projectDir, hostDir, sources, artifacts, ...(compose ? { compose } : {}), ...(smokeCommand ? { smokeCommand } : {}) });

  let composeEnv: InitPlan['composeEnv'];
  if (compose) {
    const current = await readDotEnvComposeFile(path.dirname(compose.files[0]!));
    const envFile = current.file;
    const value = composeFileValue(manifest, path.dirname(envFile), current.value, io.env.COMPOSE_PATH_SEPARATOR || current.separator || path.delimiter);
    const want = opts.composeEnv !== undefined ? Boolean(opts.composeEnv) : interactive ? await prompts.confirmComposeEnv(shown(cwd, envFile), value) : false;
    if (want) composeEnv = { file: envFile, value };
  } else if (opts.composeEnv !== undefined && opts.composeEnv) {
    throw new UsageError('--compose-env needs Compose files, and none were found here.', { hint: 'Name them with --compose-files compose.yaml.' });
  }
  return { manifestPath, text, manifest, ...(npmScripts ? { npmScripts } : {}), ...(composeEnv ? { composeEnv } : {}) };
}
