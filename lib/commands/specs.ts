/** Flag tables shared by several commands, declared `as const` so each command's flag types come from them. */
import type { FlagSpec } from '../cli/args.ts';
import { shownDefaultCacheDir } from '../default-store.ts';

export const JSON_FLAG = { name: 'json', type: 'boolean', help: 'print one JSON document on stdout and nothing else there' } as const satisfies FlagSpec;

export const LOCATION_FLAGS = [
  { name: 'host-dir', type: 'string', value: 'DIR', env: 'MODELS_HOST_DIR', help: 'host folder the containers mount (default: manifest hostDir)' },
  { name: 'cache-dir', type: 'string', value: 'DIR', env: 'MODELS_CACHE_DIR', help: `content-addressed store (default: manifest cacheDir, else ${shownDefaultCacheDir()})` },
  { name: 'retries', type: 'number', min: 0, value: 'N', env: 'MODELS_RETRIES', help: 'HTTP retries per file and source on 5xx/429/connection errors, with backoff (default 4)' },
  { name: 'jobs', type: 'number', value: 'N', env: 'MODELS_JOBS', alias: 'j', help: 'parallel transfers and hashes (default: manifest jobs, else 1 per core, 2 to 4)' },
] as const satisfies readonly FlagSpec[];

export const SELECTION_FLAGS = [
  { name: 'only', type: 'list', value: 'IDS', env: 'MODELS_ONLY', help: 'artifact ids, comma-separated or repeated (e.g. student/v0_ja)' },
  { name: 'labels', type: 'list', value: 'K=V', env: 'MODELS_LABELS', help: 'select by label, e.g. lang=ja or lang=ja,en (repeatable; keys AND, values OR)' },
  { name: 'include-optional', type: 'boolean', env: 'MODELS_INCLUDE_OPTIONAL', help: 'also select optional artifacts' },
  { name: 'source', type: 'string', value: 'NAME', env: 'MODELS_SOURCE', help: 'source to try first (the others stay as fallbacks)' },
  { name: 'source-url', type: 'string', value: 'URL', env: 'MODELS_SOURCE_URL', help: 'an extra source tried first: https:// base URL, file:// URL or folder (named "custom")' },
  { name: 'yes', type: 'boolean', alias: 'y', env: 'MODELS_YES', help: 'ask nothing: take flags and defaults, replace modified files' },
] as const satisfies readonly FlagSpec[];

/** Runs that change the store or the host folder take the run lock (lib/lock/); this says what to do when it is taken. */
export const WAIT_FLAG = {
  name: 'wait',
  type: 'boolean',
  defaultTrue: true,
  env: 'MODELS_WAIT',
  help: 'fail at once (exit 6) instead of waiting while another modelmount run uses the same store or host folder',
} as const satisfies FlagSpec;

/** Compose services to act on, replacing the manifest's list (read by loadContext). */
export const SERVICES_FLAG = {
  name: 'services',
  type: 'list',
  value: 'NAMES',
  env: 'MODELS_SERVICES',
  help: "Compose services that get the models (default: the manifest's compose.services)",
} as const satisfies FlagSpec;

export type LocationFlag = (typeof LOCATION_FLAGS)[number];
export type SelectionFlag = (typeof SELECTION_FLAGS)[number];

/** update --apply, rollback --apply */
export const APPLY_FLAG = {
  name: 'apply',
  type: 'boolean',
  env: 'MODELS_APPLY',
  help: 'recreate the running services whose model mounts changed (compose up -d --no-deps), smoke-test, switch back on failure',
} as const satisfies FlagSpec;

/** What runs after an install (update, bootstrap): the Compose override, the smoke test */
export const POST_INSTALL_FLAGS = [
  { name: 'compose', type: 'boolean', defaultTrue: true, env: 'MODELS_COMPOSE_OVERRIDE', help: 'skip writing and validating the Compose override' },
  { name: 'smoke', type: 'boolean', defaultTrue: true, env: 'MODELS_SMOKE', help: 'skip the container smoke test' },
  { name: 'full', type: 'boolean', help: 'smoke test: also compare sha256 inside the container' },
] as const satisfies readonly FlagSpec[];

/** The named flags of a table, in the table's order. */
export function pickFlags<S extends FlagSpec, N extends S['name']>(table: readonly S[], ...names: N[]): Extract<S, { name: N }>[] {
  return table.filter((f): f is Extract<S, { name: N }> => (names as string[]).includes(f.name));
}

/** on update, selection adds to what is installed */
const ADDS: Record<string, string> = {
  only: 'artifact ids to add to what is installed, comma-separated or repeated (e.g. student/v0_ja); the same as ID arguments',
  labels: 'add the artifacts with these labels, e.g. lang=ja or lang=ja,en (repeatable; keys AND, values OR)',
  'include-optional': 'also add the optional artifacts',
};

/** update's flags (also what a Swarm node's job parses: lib/commands/swarm-node-run.ts) */
export const UPDATE_FLAGS = [
  ...SELECTION_FLAGS.map((f) => ({ ...f, help: ADDS[f.name] ?? f.help })),
  {
    name: 'prune',
    type: 'boolean',
    help: 'make the installed set exactly the selection: installed artifacts not selected leave the override (asks first; --yes confirms; refused if it breaks a require rule)',
  },
  ...LOCATION_FLAGS,
  { name: 'dry-run', type: 'boolean', help: 'print the plan (skip/fetch/copy/relink/repair per file) and change nothing' },
  { name: 'offline', type: 'boolean', env: 'MODELS_OFFLINE', help: 'install from the store only; fail (exit 3) naming what is missing' },
  ...POST_INSTALL_FLAGS,
  APPLY_FLAG,
  WAIT_FLAG,
  JSON_FLAG,
] as const satisfies readonly FlagSpec[];
