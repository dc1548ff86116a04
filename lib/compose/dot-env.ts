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

/**
 * `<dir>/.env` parsed as Compose parses it; no variables when there is none. Under the stall bound
 * (a hung mount is ESTALLED, exit 5) and the run's signal; one that cannot be read is a Compose error saying so.
 */
export async function readDotEnv(dir: string, opts: { signal?: AbortSignal } = {}): Promise<{ file: string; vars: Record<string, string | undefined> }> {
  const file = path.join(dir, '.env');
  const text = await stallDeadline('Reading', file, { signal: opts.signal })
    .bound(readTextIfExists(file))
    .catch((err: unknown) => {
      if (!isUnreadableFile(err, opts.signal)) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ComposeError(`Cannot read ${file} (${code}); Compose reads it too.`, { hint: `Make it readable (chmod a+r ${file}) or move it away, then run the command again.`, cause: err });
    });
  return { file, vars: text === undefined ? {} : parseEnv(text) };
}

/** A Compose setting (COMPOSE_PROFILES, …) as a run with these files sees it: the environment's, else the .env's. */
export async function readComposeVariable(name: string, files: readonly string[], env: NodeJS.ProcessEnv, opts: { signal?: AbortSignal } = {}): Promise<string | undefined> {
  if (env[name] !== undefined) return env[name];
  return (await readDotEnv(composeEnvDir(files), opts)).vars[name];
}
