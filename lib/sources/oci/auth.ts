/**
 * Docker's registry auth inputs: the login `docker login` / `oras login` left in
 * ~/.docker/config.json (`auths`, `credHelpers`, `credsStore`), and the `WWW-Authenticate`
 * challenge a registry answers with.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** Docker's credential helper protocol: `docker-credential-<name> get`, registry on stdin, JSON on stdout. */
function runCredentialHelper(helper: string, registry: string, env: NodeJS.ProcessEnv): Promise<RegistryCredentials | undefined> {
  return new Promise((resolve) => {
    const child = spawn(`docker-credential-${helper}`, ['get'], { env, stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    // a helper that ignores SIGTERM, or leaves a child holding stdout open, must not hold the run
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      // a grandchild may still hold the pipes: they would keep the process alive
      child.stdout.destroy();
      child.stdin.destroy();
      resolve(undefined);
    }, 30_000);
    timer.unref();
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return resolve(undefined);
      try {
        const j = JSON.parse(out) as { Username?: string; Secret?: string };
        resolve(j.Secret ? { username: j.Username ?? '', password: j.Secret } : undefined);
      } catch {
        resolve(undefined);
      }
    });
    // a helper that exits without reading stdin: EPIPE here, the exit status above decides
    child.stdin.on('error', () => undefined);
    child.stdin.end(registry);
  });
}

/** The login `docker login REGISTRY` (or `oras login`) left for this registry, if any. */
export async function dockerCredentials(registry: string, env: NodeJS.ProcessEnv): Promise<RegistryCredentials | undefined> {
  const dir = env.DOCKER_CONFIG ?? path.join(env.HOME ?? os.homedir(), '.docker');
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>; credHelpers?: Record<string, string>; credsStore?: string };
  try {
    config = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const keys = [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
  const helper = config.credHelpers?.[registry] ?? config.credsStore;
  if (helper) {
    const fromHelper = await runCredentialHelper(helper, registry, env);
    if (fromHelper) return fromHelper;
  }
  for (const k of keys) {
    const a = config.auths?.[k];
    if (!a) continue;
    if (a.username && a.password) return { username: a.username, password: a.password };
    if (a.auth) {
      const text = Buffer.from(a.auth, 'base64').toString('utf8');
      const i = text.indexOf(':');
      if (i > 0) return { username: text.slice(0, i), password: text.slice(i + 1) };
    }
  }
  return undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** `Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"` */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] as string).matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[(p[1] as string).toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: (m[1] as string).toLowerCase(), params };
}
