/**
 * The `.env` Compose reads when modelmount runs it (`-f` each file, from the first file's folder):
 * the first file's folder's, and no other. Checked with compose v2.26 and docker-compose 1.29 with
 * the files in a sub-folder: run from that folder, from its parent, or with --project-directory
 * set to it, both read `<sub>/.env` (interpolation, COMPOSE_PROFILES) and never the parent's; given
 * -f, neither uses COMPOSE_FILE. A variable set in the environment (even empty) wins over .env.
 */
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ComposeError } from '../errors.ts';
import { isUnreadableFile, stallDeadline } from '../fs-safe.ts';
import { readTextIfExists } from './override.ts';

/** The folder whose .env Compose reads for a run with these files (the first one's). */
export function composeEnvDir(files: readonly string[]): string {
  return path.dirname(path.resolve(files[0] ?? '.'));
}

/** A .env file and its variables. */
export interface DotEnv {
  file: string;
  vars: Record<string, string | undefined>;
}

/**
 * `<dir>/.env` parsed as Compose parses it; no variables when there is none. Under the stall bound
 * (a hung mount is ESTALLED, exit 5) and the run's signal; one that cannot be read is a Compose
 * error saying so. A run reads it once (compose-inputs.ts).
 */
export async function readDotEnv(dir: string, opts: { signal?: AbortSignal; idleMs?: number } = {}): Promise<DotEnv> {
  const file = path.join(dir, '.env');
  const text = await stallDeadline('Reading', file, { signal: opts.signal, idleMs: opts.idleMs })
    .bound(readTextIfExists(file))
    .catch((err: unknown) => {
      if (!isUnreadableFile(err, opts.signal)) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ComposeError(`Cannot read ${file} (${code}); Compose reads it too.`, { hint: `Make it readable (chmod a+r ${file}) or move it away, then run the command again.`, cause: err });
    });
  return { file, vars: text === undefined ? {} : parseEnv(text) };
}

/** A Compose setting (COMPOSE_PROFILES, …) as Compose sees it: the environment's (even empty), else the .env's (of composeEnvDir). */
export function composeVariable(name: string, env: NodeJS.ProcessEnv, dotEnv: DotEnv): string | undefined {
  return env[name] !== undefined ? env[name] : dotEnv.vars[name];
}
