/**
 * A local OCI registry: Debian's docker-registry (distribution 2.8) on a free loopback port with
 * filesystem storage in a folder the caller owns. The demo shows the OCI source with it when the
 * package is installed; the tests start theirs the same way.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

export interface LocalRegistry {
  /** host:port */
  host: string;
  url: string;
  stop(): Promise<void>;
}

/** Why no local registry can be started here, or undefined when docker-registry is on PATH. */
export function localRegistryMissing(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v docker-registry'], { env }).status === 0;
  return found ? undefined : 'docker-registry is not installed (apt-get install docker-registry)';
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts docker-registry with its config and data in `dir`; resolves once /v2/ answers. */
export async function startLocalRegistry(dir: string, env: NodeJS.ProcessEnv = process.env, signal?: AbortSignal): Promise<LocalRegistry> {
  await fs.mkdir(dir, { recursive: true });
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  await fs.writeFile(
    config,
    [
      'version: 0.1',
      'log: {level: error}',
      `storage: {filesystem: {rootdirectory: ${JSON.stringify(path.join(dir, 'data'))}}, delete: {enabled: true}}`,
      `http: {addr: "127.0.0.1:${port}"}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('error', (err) => (log += String(err)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill();
      // one that ignores SIGTERM is killed, not waited for without end
      const hard = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(hard);
    }
  };
  for (let i = 0; ; i++) {
    if (signal?.aborted) {
      await stop();
      signal.throwIfAborted();
    }
    const up = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200, () => false);
    if (up) break;
    if (i > 100 || child.exitCode !== null) {
      await stop();
      signal?.throwIfAborted(); // Ctrl+C also ends the child: that is the user stopping, not a registry that would not start
      throw new Error(`docker-registry did not start on ${url}: ${log.trim() || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, url, stop };
}
