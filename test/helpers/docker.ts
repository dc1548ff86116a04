/**
 * Real-Docker test helpers. No registry is reachable in CI: every image is
 * built locally from `FROM scratch` + a static busybox. Every container, image
 * and network a test creates carries the run's label (or a unique name) and is
 * removed by `cleanupDocker()` in afterAll.
 *
 * Without a reachable engine the Docker tests are skipped with a message; with
 * MODELMOUNT_REQUIRE_DOCKER=1 (set by .ci/run) they fail instead.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'vitest';
import { $ as zx$ } from 'zx';

export const REQUIRE_DOCKER_ENV = 'MODELMOUNT_REQUIRE_DOCKER';
/** Label on everything the tests of this process create; value: testRunId. */
export const TEST_LABEL = 'io.modelmount.test';

/** Unique per test process: lowercase letters and digits (valid in image tags, names and project names). */
export const testRunId = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

export const sh = zx$({ quiet: true, nothrow: true, timeout: '300s' });

export function requireDocker(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[REQUIRE_DOCKER_ENV];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

export interface DockerStatus {
  reachable: boolean;
  /** server version when reachable, else why not */
  detail: string;
}

let statusCache: DockerStatus | undefined;

/** Synchronous (test files register suites synchronously); cached for the process. */
export function dockerStatus(): DockerStatus {
  if (statusCache) return statusCache;
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) statusCache = { reachable: false, detail: `docker CLI: ${r.error.message}` };
  else if (r.status !== 0 || !r.stdout.trim()) statusCache = { reachable: false, detail: (r.stderr || r.stdout).trim().split('\n')[0] ?? `exit ${r.status}` };
  else statusCache = { reachable: true, detail: r.stdout.trim() };
  return statusCache;
}

export async function dockerReachable(): Promise<boolean> {
  return dockerStatus().reachable;
}

function skipMessage(name: string): string {
  return `Docker engine not reachable: skipping ${name} (${dockerStatus().detail}) (set ${REQUIRE_DOCKER_ENV}=1 to fail instead)`;
}

const warned = new Set<string>();
function warnOnce(msg: string): void {
  if (warned.has(msg)) return;
  warned.add(msg);
  console.warn(msg);
}

/** `describe` that needs a Docker engine: skipped (or failed with MODELMOUNT_REQUIRE_DOCKER=1) without one. */
export function describeDocker(name: string, fn: () => void): void {
  if (dockerStatus().reachable) {
    describe(name, fn);
  } else if (requireDocker()) {
    describe(name, () => {
      it('needs a reachable Docker engine', () => {
        throw new Error(`Docker engine not reachable (${dockerStatus().detail}) and ${REQUIRE_DOCKER_ENV}=1: start dockerd (and check \`docker info\`) to run ${name}.`);
      });
    });
  } else {
    warnOnce(skipMessage(name));
    describe.skip(`${name} [${skipMessage('these tests')}]`, fn);
  }
}

/** `it` that needs a Docker engine; same rules as describeDocker. */
export function itDocker(name: string, fn: () => Promise<void> | void, timeout?: number): void {
  if (dockerStatus().reachable) {
    it(name, fn, timeout);
  } else if (requireDocker()) {
    it(name, () => {
      throw new Error(`Docker engine not reachable (${dockerStatus().detail}) and ${REQUIRE_DOCKER_ENV}=1: start dockerd to run "${name}".`);
    });
  } else {
    warnOnce(skipMessage(name));
    it.skip(`${name} [${skipMessage('this test')}]`, fn);
  }
}

// ---------------------------------------------------------------------------
// Images

function busyboxPath(): string {
  const candidates = [process.env.MODELMOUNT_BUSYBOX, '/bin/busybox', '/usr/bin/busybox'].filter((p): p is string => Boolean(p));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`No static busybox found (looked at ${candidates.join(', ')}): install busybox-static (apt-get install busybox-static) or set MODELMOUNT_BUSYBOX.`);
  }
  return found;
}

const built = new Map<string, Promise<string>>();
const createdImages = new Set<string>();

/**
 * Build `FROM scratch` + busybox (with its applets installed as /bin/*) under
 * `tag`, labelled with this run's label. Built once per tag per process.
 * Images FROM it inherit the label, so cleanupDocker() removes them too.
 * `shell: false`: only /bin/busybox, no applet links (no `sh`), like a distroless image.
 */
export function buildBusyboxImage(tag: string, opts: { shell?: boolean } = {}): Promise<string> {
  let p = built.get(tag);
  if (!p) {
    p = (async () => {
      const ctx = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-busybox-'));
      try {
        await fs.copyFile(busyboxPath(), path.join(ctx, 'busybox'));
        await fs.chmod(path.join(ctx, 'busybox'), 0o755);
        await fs.writeFile(
          path.join(ctx, 'Dockerfile'),
          (opts.shell === false ? ['FROM scratch', 'COPY busybox /bin/busybox', ''] : ['FROM scratch', 'COPY busybox /bin/busybox', 'RUN ["/bin/busybox","--install","-s","/bin"]', 'CMD ["sh"]', '']).join('\n'),
        );
        const out = await sh`docker build -q --label ${`${TEST_LABEL}=${testRunId}`} -t ${tag} ${ctx}`;
        if (out.exitCode !== 0) throw new Error(`docker build of ${tag} failed:\n${out.stderr || out.stdout}`);
        createdImages.add(tag);
        return tag;
      } finally {
        await fs.rm(ctx, { recursive: true, force: true });
      }
    })();
    built.set(tag, p);
    p.catch(() => built.delete(tag));
  }
  return p;
}

/** Remember an image the test built some other way (e.g. `compose build`), for cleanupDocker(). */
export function trackImage(tag: string): void {
  createdImages.add(tag);
}

async function idsOf(args: string[]): Promise<string[]> {
  const out = await sh`docker ${args}`;
  return out.exitCode === 0 ? [...new Set(out.stdout.split(/\s+/).filter(Boolean))] : [];
}

/** Remove every container, image and network carrying `label` (`key=value` or `key`). */
export async function removeByLabel(label: string): Promise<void> {
  const filter = `label=${label}`;
  const containers = await idsOf(['ps', '-aq', '--filter', filter]);
  if (containers.length > 0) await sh`docker rm -f ${containers}`;
  // children before parents: `docker images` lists newest first; retry what failed once
  const images = await idsOf(['images', '-q', '--filter', filter]);
  const failed: string[] = [];
  for (const id of images) {
    const out = await sh`docker rmi -f ${id}`;
    if (out.exitCode !== 0 && !/No such image/i.test(out.stderr)) failed.push(id);
  }
  for (const id of failed) await sh`docker rmi -f ${id}`;
  const networks = await idsOf(['network', 'ls', '-q', '--filter', filter]);
  if (networks.length > 0) await sh`docker network rm ${networks}`;
}

/** Everything this test process created: its label, tracked tags, and the given Compose projects. */
export async function cleanupDocker(opts: { composeProjects?: string[] } = {}): Promise<void> {
  if (!dockerStatus().reachable) return;
  for (const project of opts.composeProjects ?? []) await removeByLabel(`com.docker.compose.project=${project}`);
  await removeByLabel(`${TEST_LABEL}=${testRunId}`);
  for (const tag of [...createdImages].reverse()) await sh`docker rmi -f ${tag}`;
  createdImages.clear();
  built.clear();
}

/** Names/ids of containers whose name matches exactly (for "the container is gone" checks). */
export async function containersNamed(name: string): Promise<string[]> {
  return idsOf(['ps', '-aq', '--filter', `name=^/${name}$`]);
}
