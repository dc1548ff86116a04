/**
 * `describe` for tests that need a real server installed on this machine (radosgw, docker-registry):
 * skipped with a message where it is missing, failed instead when `requireEnv` is set (CI).
 */
import { describe, it } from 'vitest';

export function envFlag(name: string): boolean {
  const v = process.env[name];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

export function describeWithServer(server: string, missing: string | undefined, requireEnv: string, name: string, fn: () => void): void {
  if (!missing) describe(name, fn);
  else if (envFlag(requireEnv)) {
    describe(name, () => {
      it(`needs ${server}`, () => {
        throw new Error(`${server} ${missing} and ${requireEnv}=1: install it to run ${name}.`);
      });
    });
  } else {
    const msg = `${server} ${missing}: skipping ${name} (set ${requireEnv}=1 to fail instead)`;
    console.warn(msg);
    describe.skip(`${name} [${msg}]`, fn);
  }
}
