/**
 * The files Compose reads when it runs in a folder without -f or COMPOSE_FILE (checked against
 * `docker compose config` v2 and docker-compose 1.29): the first of COMPOSE_DEFAULT_FILES there,
 * and with it the first of COMPOSE_AUTO_OVERRIDES there, whatever the base file is called
 * (docker-compose v1 refuses to run when more than one override file is there). Given -f or
 * COMPOSE_FILE, Compose reads only the files named, so an automatic override is then left out.
 */
import path from 'node:path';
import { COMPOSE_AUTO_OVERRIDES, COMPOSE_DEFAULT_FILES } from '../defaults.ts';
import { pathExists } from '../fs-atomic.ts';

/**
 * What Compose reads in `dir` without -f: absolute paths, [] when no default file is there.
 * `assumePresent`: files taken as there although they are not yet (the override modelmount writes).
 */
export async function composeDefaultFiles(dir: string, assumePresent: readonly string[] = []): Promise<string[]> {
  const first = async (names: string[]) => {
    for (const name of names) {
      const file = path.join(dir, name);
      if (assumePresent.includes(file) || (await pathExists(file))) return file;
    }
    return undefined;
  };
  const base = await first(COMPOSE_DEFAULT_FILES);
  if (!base) return [];
  const override = await first(COMPOSE_AUTO_OVERRIDES);
  return override ? [base, override] : [base];
}
