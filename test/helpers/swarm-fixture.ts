/**
 * A real Docker Swarm on this machine: Docker-in-Docker nodes (the debootstrap'd image that
 * .ci/build-swarm-node-image builds once and caches) on an `--internal` network this fixture
 * creates. No `--privileged` (refused here): the flag set from INFRA.md. Each node's dockerd
 * listens on a unix socket in a host folder, so the host CLI drives a node with DOCKER_HOST.
 * The host engine never joins a swarm. Everything carries the `mmfleet-<run>` prefix and the
 * test label, and `destroy()` removes nodes, network and folders.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'vitest';
import { $ as zx$ } from 'zx';
import { sh, testRunId, TEST_LABEL } from './docker.ts';

export const NODE_IMAGE = process.env.MODELMOUNT_SWARM_NODE_IMAGE ?? 'mmfleet-node:bookworm-1';
export const REQUIRE_SWARM_ENV = 'MODELMOUNT_REQUIRE_SWARM';

/** Why the swarm tests cannot run here, or undefined when they can (synchronous: suites register synchronously). */
export function swarmUnavailable(): string | undefined {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 });
  if (info.error || info.status !== 0) return 'no Docker engine is reachable';
  const img = spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', NODE_IMAGE], { encoding: 'utf8', timeout: 20_000 });
  if (img.status !== 0) return `the node image ${NODE_IMAGE} is missing (build it once with .ci/build-swarm-node-image, ~10 min)`;
  if (spawnSync('sh', ['-c', 'command -v busybox || test -x /bin/busybox']).status !== 0) return 'busybox-static is not installed';
  return undefined;
}

export function requireSwarm(): boolean {
  const v = process.env[REQUIRE_SWARM_ENV];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

const DIND_FLAGS = [
  '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE',
  '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--security-opt', 'systempaths=unconfined',
  '--device-cgroup-rule', 'a *:* rwm', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
  '-e', 'DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1',
];

export interface SwarmNodeHandle {
  name: string;
  /** DOCKER_HOST value for this node's engine */
  dockerHost: string;
  ip: string;
}

export class TestSwarm {
  readonly prefix = `mmfleet-${testRunId}`;
  readonly network = `${this.prefix}-net`;
  readonly nodes: SwarmNodeHandle[] = [];
  private readonly dir: string;
  private joinToken = '';
  private managerAddr = '';

  constructor(dir: string) {
    this.dir = dir;
  }

  static async create(dir: string): Promise<TestSwarm> {
    const s = new TestSwarm(dir);
    const net = await sh`docker network create --internal --label ${`${TEST_LABEL}=${testRunId}`} ${s.network}`;
    if (net.exitCode !== 0) throw new Error(`docker network create failed: ${net.stderr}`);
    return s;
  }

  /** Docker CLI against one node's engine. */
  on(node: SwarmNodeHandle) {
    return zx$({ quiet: true, nothrow: true, timeout: '300s', env: { ...process.env, DOCKER_HOST: node.dockerHost } });
  }

  get manager(): SwarmNodeHandle {
    return this.nodes[0]!;
  }

  /** Start a node; the first becomes the manager, the others join as workers. */
  async addNode(): Promise<SwarmNodeHandle> {
    const name = `${this.prefix}-n${this.nodes.length + 1}`;
    const base = path.join(this.dir, name);
    await fs.mkdir(path.join(base, 'sock'), { recursive: true });
    await fs.mkdir(path.join(base, 'docker'), { recursive: true });
    const run = await sh`docker run -d --name ${name} --hostname ${name} --network ${this.network} --label ${`${TEST_LABEL}=${testRunId}`} ${DIND_FLAGS} -v ${`${base}/docker:/var/lib/docker`} -v ${`${base}/sock:/run/dind`} ${NODE_IMAGE} dockerd -H unix:///run/dind/docker.sock --cgroup-parent ${`/${name}`}`;
    if (run.exitCode !== 0) throw new Error(`starting node ${name} failed: ${run.stderr}`);
    const ip = (await sh`docker inspect -f ${`{{(index .NetworkSettings.Networks "${this.network}").IPAddress}}`} ${name}`).stdout.trim();
    const node = { name, dockerHost: `unix://${base}/sock/docker.sock`, ip };
    for (let i = 0; ; i++) {
      if ((await this.on(node)`docker info`).exitCode === 0) break;
      if (i > 120) throw new Error(`node ${name}: dockerd did not answer: ${(await sh`docker logs --tail 20 ${name}`).stderr}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    if (this.nodes.length === 0) {
      const init = await this.on(node)`docker swarm init --advertise-addr ${ip}`;
      if (init.exitCode !== 0) throw new Error(`swarm init failed: ${init.stderr}`);
      this.joinToken = (await this.on(node)`docker swarm join-token -q worker`).stdout.trim();
      this.managerAddr = `${ip}:2377`;
    } else {
      const join = await this.on(node)`docker swarm join --token ${this.joinToken} ${this.managerAddr}`;
      if (join.exitCode !== 0) throw new Error(`swarm join of ${name} failed: ${join.stderr}`);
    }
    this.nodes.push(node);
    return node;
  }

  /** `docker save | docker load` an image of the host engine into a node. */
  async loadImage(node: SwarmNodeHandle, image: string): Promise<void> {
    const out = await sh`docker save ${image} | DOCKER_HOST=${node.dockerHost} docker load -q`;
    if (out.exitCode !== 0) throw new Error(`loading ${image} into ${node.name} failed: ${out.stderr}`);
  }

  /** Cut (or restore) a node's route to an address: what an unreachable source looks like from that node only. */
  async block(node: SwarmNodeHandle, ip: string, on: boolean): Promise<void> {
    for (const chain of ['FORWARD', 'OUTPUT']) {
      const op = on ? '-I' : '-D';
      const out = await sh`docker exec ${node.name} iptables ${op} ${chain} -d ${ip} -j REJECT`;
      if (out.exitCode !== 0) throw new Error(`iptables in ${node.name} failed: ${out.stderr}`);
    }
  }

  async destroy(): Promise<void> {
    for (const n of this.nodes) {
      await sh`docker rm -f -v ${n.name}`;
      // the cgroups the node's dockerd made under its --cgroup-parent (empty once it is gone)
      await sh`find /sys/fs/cgroup -maxdepth 2 -type d -name ${n.name}`.then((o) =>
        Promise.all(o.stdout.split('\n').filter(Boolean).map((d) => sh`find ${d} -depth -type d -exec rmdir {} +`)),
      );
    }
    await sh`docker network rm ${this.network}`;
    // the nodes' /var/lib/docker is root-owned content written by the nodes
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * `describe` for the fleet tests (swarm, podman): runs when `missing` is undefined; else skipped with the
 * reason, or failed under MODELMOUNT_REQUIRE_SWARM=1 (.ci/run sets it after building the node image).
 */
export function describeFleet(name: string, missing: string | undefined, fn: () => void): void {
  if (!missing) describe(name, fn);
  else if (requireSwarm()) {
    describe(name, () => {
      it('has what it needs', () => {
        throw new Error(`${missing}, and ${REQUIRE_SWARM_ENV}=1 says the fleet tests must run.`);
      });
    });
  } else {
    console.warn(`${name}: SKIPPED: ${missing} (set ${REQUIRE_SWARM_ENV}=1 to fail instead).`);
    describe.skip(`${name} [skipped: ${missing}]`, fn);
  }
}
