/**
 * What one run reads of the user's Compose project, each file once however many steps need it:
 * the Compose files as written (services.ts: their services, include: and extends:) and the .env
 * Compose reads (dot-env.ts: COMPOSE_FILE, COMPOSE_PROFILES). Make one per run (update with its
 * --apply, apply, rollback, compose, smoke, doctor, bootstrap) and pass it along: the merged-config
 * check, the smoke test, apply's COMPOSE_FILE check and doctor's `config` runs then share the reads.
 * A file is read when first asked for, under the stall bound and the run's signal. The override
 * modelmount rewrites during a run is read for its services only (it sets no profile, include: or
 * extends:), so the first read serves the run.
 */
import { readDotEnv, type DotEnv } from './dot-env.ts';
import type { ComposeReadOptions } from './read-compose-file.ts';
import { readComposeTree, type ComposeFileCache, type ComposeTree } from './services.ts';

export interface ComposeInputs {
  /** `<dir>/.env` as Compose parses it (readDotEnv) */
  dotEnv(dir: string): Promise<DotEnv>;
  /** the Compose files as written from `files` (readComposeTree) */
  tree(files: readonly string[]): Promise<ComposeTree>;
}

export function composeInputs(opts: ComposeReadOptions = {}): ComposeInputs {
  const envs = new Map<string, Promise<DotEnv>>();
  const cache: ComposeFileCache = new Map();
  return {
    dotEnv(dir) {
      let env = envs.get(dir);
      if (!env) envs.set(dir, (env = readDotEnv(dir, opts)));
      return env;
    },
    tree: (files) => readComposeTree(files, { ...opts, cache }),
  };
}
