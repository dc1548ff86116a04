/**
 * COMPOSE_FILE as a plain `docker compose` finds it, and whether it names the files modelmount
 * gives Compose (compose.files, then the override). Compose takes COMPOSE_FILE from the environment,
 * else from the .env of the folder it runs in (checked with compose v2 and docker-compose 1.29), and
 * reads only the files it lists, in that order: a file listed after the override can replace the
 * override's mounts, and a file modelmount leaves out drops out of every container it recreates.
 * The project folder is the first Compose file's (where init writes .env): its .env is the one
 * Compose reads when modelmount runs it (dot-env.ts), so a parent folder's .env is not read here
 * either. Relative entries of the environment variable resolve against the current folder, those
 * of .env against the project folder.
 */
import path from 'node:path';
import { ComposeError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import type { ComposeSettings, Manifest } from '../manifest/schema.ts';
import { relativeInside } from '../path-inside.ts';
import { composeInputs, type ComposeInputs } from './compose-inputs.ts';
import { composeEnvDir, readDotEnv, type DotEnv } from './dot-env.ts';
import { composeFilesWithOverride, toPosix } from './override.ts';

export interface ComposeFileSetting {
  /** the value as written */
  value: string;
  /** where it was found, for messages */
  from: string;
  /** the .env it came from, when it did */
  envFile?: string;
  /** the folder its relative entries resolve against */
  dir: string;
  separator: string;
  /** its entries, absolute, in order */
  files: string[];
}

/** COMPOSE_FILE and COMPOSE_PATH_SEPARATOR in a .env (blank: unset). */
function dotEnvComposeFile({ file, vars }: DotEnv): { file: string; value?: string; separator?: string } {
  return { file, value: vars.COMPOSE_FILE || undefined, separator: vars.COMPOSE_PATH_SEPARATOR || undefined };
}

/** COMPOSE_FILE and COMPOSE_PATH_SEPARATOR in `<dir>/.env`, parsed as Compose parses it. */
export async function readDotEnvComposeFile(dir: string, opts: { signal?: AbortSignal } = {}): Promise<{ file: string; value?: string; separator?: string }> {
  return dotEnvComposeFile(await readDotEnv(dir, opts));
}

export function splitComposeFile(value: string, separator: string): string[] {
  return value.split(separator).map((s) => s.trim()).filter(Boolean);
}

/** Where COMPOSE_FILE is looked up: the run's environment and current folder, and its reads of .env (compose-inputs.ts; default: a new one, under `signal`). */
export interface ComposeFileLookup {
  env: NodeJS.ProcessEnv;
  cwd: string;
  inputs?: ComposeInputs;
  signal?: AbortSignal;
}

/** COMPOSE_FILE from the environment, else from `<projectDir>/.env`; undefined when neither names a file. */
export async function readComposeFileSetting(projectDir: string, opts: ComposeFileLookup): Promise<ComposeFileSetting | undefined> {
  const inputs = opts.inputs ?? composeInputs({ signal: opts.signal });
  const dotenv = dotEnvComposeFile(await inputs.dotEnv(projectDir));
  const separator = opts.env.COMPOSE_PATH_SEPARATOR || dotenv.separator || path.delimiter;
  const from = opts.env.COMPOSE_FILE
    ? { value: opts.env.COMPOSE_FILE, from: 'the COMPOSE_FILE environment variable', dir: opts.cwd }
    : dotenv.value
      ? { value: dotenv.value, from: `COMPOSE_FILE in ${dotenv.file}`, envFile: dotenv.file, dir: projectDir }
      : undefined;
  if (!from) return undefined;
  const files = [...new Set(splitComposeFile(from.value, separator).map((f) => path.resolve(from.dir, f)))];
  return files.length ? { ...from, separator, files } : undefined; // blanks or separators only: as unset
}

export interface ComposeFileMismatch {
  setting: ComposeFileSetting;
  /** listed in COMPOSE_FILE, not in compose.files */
  extra: string[];
  /** in compose.files (or the override), not listed in COMPOSE_FILE */
  missing: string[];
  /** listed after the override: they can replace its mounts */
  afterOverride: string[];
  /** the files both name come in another order */
  reordered: boolean;
}

/** Undefined when COMPOSE_FILE lists exactly compose.files, in order, then the override. */
export function compareComposeFileSetting(setting: ComposeFileSetting, compose: ComposeSettings): ComposeFileMismatch | undefined {
  const override = path.resolve(compose.override);
  const expected = [...new Set([...compose.files.map((f) => path.resolve(f)).filter((f) => f !== override), override])];
  const listed = setting.files;
  const at = listed.indexOf(override);
  const extra = listed.filter((f) => !expected.includes(f));
  const missing = expected.filter((f) => !listed.includes(f));
  const afterOverride = at === -1 ? [] : listed.slice(at + 1);
  const common = (a: string[], b: string[]) => a.filter((f) => b.includes(f)).join('\0');
  const reordered = common(listed, expected) !== common(expected, listed);
  if (!extra.length && !missing.length && !afterOverride.length && !reordered) return undefined;
  return { setting, extra, missing, afterOverride, reordered };
}

/** COMPOSE_FILE as a plain `docker compose` in the project folder (the first Compose file's) finds it. */
export async function readProjectComposeFile(compose: ComposeSettings, opts: ComposeFileLookup): Promise<ComposeFileSetting | undefined> {
  return readComposeFileSetting(composeEnvDir(composeFilesWithOverride(compose)), opts);
}

/** COMPOSE_FILE's disagreement with compose.files + override, or undefined (also when it is not set). */
export async function findComposeFileMismatch(compose: ComposeSettings, opts: ComposeFileLookup): Promise<ComposeFileMismatch | undefined> {
  const setting = await readProjectComposeFile(compose, opts);
  return setting && compareComposeFileSetting(setting, compose);
}

/**
 * COMPOSE_FILE lists compose.files in order and only leaves the override out: what it names is
 * what modelmount uses, less the models (doctor's override-not-included reports that part).
 */
export function onlyOverrideLeftOut(m: ComposeFileMismatch, compose: ComposeSettings): boolean {
  return !m.extra.length && !m.afterOverride.length && !m.reordered && m.missing.length === 1 && m.missing[0] === path.resolve(compose.override);
}

/** The mismatch in words, and its fix; the fix ends with running `then` (default: `compose`). */
export function describeComposeFileMismatch(m: ComposeFileMismatch, manifest: Manifest, cwd: string, then = commandFor('compose')): { message: string; fix: string } {
  const compose = manifest.compose!;
  const override = path.resolve(compose.override);
  const show = (f: string) => relativeInside(m.setting.dir, f) || relativeInside(cwd, f) || f;
  const names = (fs: string[]) => fs.map(show).join(', ');
  const parts = [
    m.extra.length ? `it lists ${names(m.extra)}, which compose.files does not` : '',
    m.missing.length ? `it leaves out ${names(m.missing)}` : '',
    m.afterOverride.length ? `it puts ${names(m.afterOverride)} after the override ${show(override)}, so ${m.afterOverride.length === 1 ? 'that file' : 'those files'} can replace the model mounts` : '',
    m.reordered && !m.afterOverride.length ? 'it lists the files in another order' : '',
  ].filter(Boolean);
  const bases = m.setting.files.filter((f) => f !== override);
  const manifestFiles = bases.map((f) => toPosix(path.relative(manifest.dir, f))).join(', ');
  const value = [...bases, override].map((f) => toPosix(relativeInside(m.setting.dir, f) || f)).join(m.setting.separator);
  return {
    message: `${m.setting.from} ("${m.setting.value}") is not compose.files then the override, which modelmount gives Compose: ${parts.join('; ')}. A plain \`docker compose\` reads COMPOSE_FILE's files, so what modelmount checks, smoke-tests and recreates would differ from what runs.`,
    fix: `List the files Compose reads in compose.files in ${manifest.path}, in Compose's order — files: [${manifestFiles}] — and keep the override last in ${m.setting.envFile ?? 'COMPOSE_FILE'}: COMPOSE_FILE=${value}. Then run \`${then}\`.`,
  };
}

/**
 * Exit 7 (ECOMPOSE_FILES) when COMPOSE_FILE disagrees with compose.files + override: `doing` (e.g.
 * "recreate worker") would use another file set than a plain `docker compose` does.
 */
export async function refuseComposeFileMismatch(manifest: Manifest, opts: ComposeFileLookup, doing: string, again: string): Promise<void> {
  const m = await findComposeFileMismatch(manifest.compose!, opts);
  if (!m || onlyOverrideLeftOut(m, manifest.compose!)) return;
  const { message, fix } = describeComposeFileMismatch(m, manifest, opts.cwd, again);
  throw new ComposeError(`Not going to ${doing} with other Compose files than a plain \`docker compose\` reads: ${message}`, {
    code: 'ECOMPOSE_FILES',
    hint: fix,
    data: { composeFile: m.setting.value, from: m.setting.from, extra: m.extra, missing: m.missing, afterOverride: m.afterOverride },
  });
}
