/**
 * Releases with real Docker, on Compose v2 (default detection) and v1 (MODELS_COMPOSE=docker-compose):
 * a long-running worker re-reads a pair of files whose contents name their version and never sees
 * a mix during an update; apply recreates only the services whose mounts changed; a smoke failure
 * after apply switches back; rollback works with the model server stopped; labels, status and gc.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { artifactDigest, setDigest } from '../lib/releases/record.ts';
import { manifestYaml, runCliCaptured, serverFiles, sha256, tempProject, type TestArtifact } from './helpers/cli.ts';
import { hasCommand } from './helpers/compose-fixture.ts';
import { buildBusyboxImage, cleanupDocker, describeDocker, itDocker, sh, testRunId, trackImage } from './helpers/docker.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const IMAGE = `modelmount-test-busybox-rel:${testRunId}`;
/** the worker's image declares the models it was built for: the v1 set */
const WORKER_IMAGE = `modelmount-test-worker-rel:${testRunId}`;
const ID = 'model/pair';

function pair(version: string): TestArtifact {
  // both files name their version: a reader that sees two different versions saw a mix
  return { id: ID, files: [{ path: 'a.txt', data: Buffer.from(`${version}\n`) }, { path: 'b.txt', data: Buffer.from(`${version}\n`) }] };
}

function digestOf(version: string): string {
  return artifactDigest(pair(version).files.map((f) => ({ path: f.path, size: f.data.length, sha256: sha256(f.data) })));
}

function setOf(version: string): string {
  return setDigest({ [ID]: { digest: digestOf(version) } });
}

// `$$`: Compose would otherwise substitute $a and $b from the environment
const LOOP = 'mkdir -p /t; while true; do a=$$(cat /models/model/pair/a.txt); b=$$(cat /models/model/pair/b.txt); echo "$$a $$b" >> /t/seen; [ "$$a" = "$$b" ] || echo MIX >> /t/seen; sleep 0.05; done';

function extra(keep?: number): string {
  return [
    ...(keep ? [`keepReleases: ${keep}`] : []),
    'compose:',
    '  files: [compose.yaml]',
    '  services: [worker]',
    '  override: compose.models.yaml',
    '  containerDir: /models',
    'smoke:',
    '  command: [sh, -c, "test \\"$(cat /models/model/pair/a.txt)\\" != bad"]',
    '  timeoutSeconds: 60',
  ].join('\n');
}

const BASE = `services:
  worker:
    image: ${WORKER_IMAGE}
    command: [sh, -c, '${LOOP}']
    healthcheck:
      test: [CMD, sh, -c, 'test -s /t/seen']
      interval: 1s
      retries: 30
  web:
    image: ${IMAGE}
    command: [sleep, '100000']
`;

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer({ files: {} });
});
afterAll(async () => {
  await server?.close().catch(() => {});
  await cleanupDocker();
});

async function json(r: { code: number; stdout: string; stderr: string }) {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

for (const flavour of ['v2', 'v1'] as const) {
  describeDocker(`releases with Compose ${flavour}`, () => {
    itDocker(
      'update never shows a running container a mix; apply, smoke failure, rollback without network, labels, status and gc',
      async () => {
        if (flavour === 'v1' && !(await hasCommand('docker-compose'))) throw new Error('docker-compose (v1) is not installed');
        await buildBusyboxImage(IMAGE);
        const built = await sh({ input: `FROM ${IMAGE}\nLABEL io.modelmount.expects=${setOf('v1').slice(0, 12)}\n` })`docker build -q -t ${WORKER_IMAGE} -`;
        expect(built.exitCode, built.stderr).toBe(0);
        trackImage(WORKER_IMAGE);
        const project = `mmrel${flavour}${testRunId}`;
        const env = { COMPOSE_PROJECT_NAME: project, ...(flavour === 'v1' ? { MODELS_COMPOSE: 'docker-compose' } : {}), ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}) };
        const compose = flavour === 'v1' ? ['docker-compose'] : ['docker', 'compose'];
        // a separate server root per flavour: the two runs share one server
        const prefix = `/${flavour}/`;
        const serve = (v: string) => {
          for (const [p, data] of Object.entries(serverFiles([pair(v)], prefix))) server.setFile(p, data);
        };
        const write = async (v: string, keep?: number) => fs.writeFile(p.manifest, manifestYaml({ artifacts: [pair(v)], sources: [{ name: 'mirror', url: `${server.url}${flavour}/` }], extra: extra(keep) }));
        serve('v1');
        const p = await tempProject('');
        await write('v1');
        await fs.writeFile(path.join(p.dir, 'compose.yaml'), BASE);
        const cli = (args: string[]) => runCliCaptured([...args, '--manifest', p.manifest], { env, cwd: p.dir });
        const dc = (args: string[]) => sh({ cwd: p.dir, env: { ...process.env, ...env } })`${[...compose, '-f', 'compose.yaml', '-f', 'compose.models.yaml', ...args]}`;
        const idOf = async (service: string) => (await dc(['ps', '-q', service])).stdout.trim();
        const inContainer = async (id: string, cmd: string) => (await sh`docker exec ${id} sh -c ${cmd}`).stdout.trim();
        try {
          // 1. first install: release of v1, override mounts it, smoke passes
          const first = await cli(['update', '--yes', '--json']);
          expect(first.code, first.stderr).toBe(0);
          expect((await json(first)).release.set).toBe(setOf('v1'));
          const override1 = await fs.readFile(path.join(p.dir, 'compose.models.yaml'), 'utf8');
          expect(override1).toContain(path.join(p.hostDir, '.modelmount', 'releases', 'model', 'pair'));
          expect(override1).toContain(`io.modelmount.set: ${setOf('v1')}`);

          const up = await dc(['up', '-d']);
          expect(up.exitCode, up.stderr).toBe(0);
          const worker1 = await idOf('worker');
          const web = await idOf('web');
          expect(worker1).not.toBe('');
          // the worker has read the pair at least once before the update starts
          while ((await inContainer(worker1, 'cat /t/seen 2>/dev/null | wc -l')) === '0') await new Promise((r) => setTimeout(r, 200));

          // 2. update to v2 without --apply: the running worker keeps v1, whole, and is named as outdated
          serve('v2');
          await write('v2');
          const second = await cli(['update', '--yes']);
          expect(second.code, second.stderr).toBe(0);
          expect(second.stderr).toMatch(/Still on an older release set .*: worker\./);
          expect(second.stderr).toMatch(/Move them with: .*\bapply\b/);
          expect(await fs.readFile(path.join(p.hostDir, 'model', 'pair', 'a.txt'), 'utf8')).toBe('v2\n');
          expect(await inContainer(worker1, 'grep -c MIX /t/seen; true')).toBe('0');
          expect(await inContainer(worker1, 'tail -n 1 /t/seen')).toBe('v1 v1');
          const st = await json(await cli(['status', '--json']));
          expect(st.releases.current).toBe(setOf('v2'));
          expect(st.containers.find((c: { service: string }) => c.service === 'worker')).toMatchObject({ running: true, set: setOf('v1'), current: false });
          // doctor: the running worker is outdated, and its image was built for v1 while v2 is installed
          const doc = await json(await cli(['doctor', '--json']));
          const warn = (id: string) => doc.findings.find((f: { id: string; verdict: string }) => f.id === id && f.verdict === 'warn');
          expect(warn('container-outdated')?.message).toContain(setOf('v1').slice(0, 12));
          expect(warn('image-expects-mismatch')?.message).toContain(`io.modelmount.expects=${setOf('v1').slice(0, 12)}`);

          // 3. apply: only worker is recreated; web keeps its container; the new worker sees v2 and carries the label
          const applied = await cli(['apply', '--json']);
          expect(applied.code, applied.stderr).toBe(0);
          expect(await json(applied)).toMatchObject({ ok: true, set: setOf('v2'), recreated: ['worker'] });
          expect(await idOf('web')).toBe(web);
          const worker2 = await idOf('worker');
          expect(worker2).not.toBe(worker1);
          expect(await inContainer(worker2, 'cat /models/model/pair/a.txt /models/model/pair/b.txt')).toBe('v2\nv2');
          expect((await sh`docker inspect --format ${'{{index .Config.Labels "io.modelmount.set"}}'} ${worker2}`).stdout.trim()).toBe(setOf('v2'));
          const st2 = await json(await cli(['status', '--json']));
          expect(st2.containers.find((c: { service: string }) => c.service === 'worker')).toMatchObject({ set: setOf('v2'), current: true });

          // 4. a broken v3: update --apply recreates, the smoke test fails, it switches back to v2 and recreates again
          serve('bad');
          await write('bad');
          const broken = await cli(['update', '--yes', '--apply', '--json']);
          expect(broken.code, broken.stderr).toBe(8);
          const b = await json(broken);
          expect(b.apply).toMatchObject({ ok: false, set: setOf('bad'), recreated: ['worker'], rolledBack: { set: setOf('v2'), ok: true } });
          // the failure is on stderr under --json too; smoke holds apply's failed smoke test, not an empty skipped
          expect(broken.stderr).toMatch(/^✖ /m);
          expect(b.smoke).toMatchObject({ ok: false });
          const worker3 = await idOf('worker');
          expect(await inContainer(worker3, 'cat /models/model/pair/a.txt')).toBe('v2');
          expect(await fs.readFile(path.join(p.hostDir, 'model', 'pair', 'a.txt'), 'utf8')).toBe('v2\n');
          expect(await idOf('web')).toBe(web);

          // 5. the model server is stopped: rollback returns to v1 from the kept releases, and the smoke test passes
          await server.close();
          const rb = await cli(['rollback', '--json']);
          expect(rb.code, rb.stderr).toBe(0);
          expect(await json(rb)).toMatchObject({ ok: true, from: setOf('v2'), to: setOf('v1'), smoke: { ok: true } });
          expect(await fs.readFile(path.join(p.hostDir, 'model', 'pair', 'a.txt'), 'utf8')).toBe('v1\n');
          expect(await fs.readFile(path.join(p.dir, 'compose.models.yaml'), 'utf8')).toContain(`io.modelmount.set: ${setOf('v1')}`);

          // 6. gc: keep one set only; the v2 release is outside the window but a stopped container mounts it
          await write('v1', 1);
          const again = await cli(['update', '--yes', '--offline', '--no-smoke']);
          expect(again.code, again.stderr).toBe(0);
          await sh`docker stop -t 1 ${worker3}`;
          const gc = await json(await cli(['gc', '--yes', '--json']));
          const releases = path.join(p.hostDir, '.modelmount', 'releases', 'model', 'pair');
          const v2dir = path.join(releases, digestOf('v2'));
          const baddir = path.join(releases, digestOf('bad'));
          expect(gc.removals.map((r: { path: string }) => r.path)).toContain(baddir);
          expect(gc.releases.kept.find((k: { path: string }) => k.path === v2dir)?.why).toContain('mounted by a container (running or stopped)');
          expect(await fs.stat(v2dir).then(() => true, () => false)).toBe(true);
          expect(await fs.stat(baddir).then(() => true, () => false)).toBe(false);
        } finally {
          await dc(['down', '-v', '-t', '1']);
          server = await startFaultServer({ files: {} });
        }
      },
      600_000,
    );

    itDocker(
      'COMPOSE_FILE names a file compose.files leaves out: update --apply and rollback --apply refuse (exit 7) before switching or writing anything; once listed, the recreated container keeps its settings',
      async () => {
        if (flavour === 'v1' && !(await hasCommand('docker-compose'))) throw new Error('docker-compose (v1) is not installed');
        await buildBusyboxImage(IMAGE);
        const project = `mmcf${flavour}${testRunId}`;
        const env = { COMPOSE_PROJECT_NAME: project, ...(flavour === 'v1' ? { MODELS_COMPOSE: 'docker-compose' } : {}), ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}) };
        const compose = flavour === 'v1' ? ['docker-compose'] : ['docker', 'compose'];
        const prefix = `/cf${flavour}/`;
        const serve = (v: string) => {
          for (const [q, data] of Object.entries(serverFiles([pair(v)], prefix))) server.setFile(q, data);
        };
        const p = await tempProject('');
        const write = async (v: string, files: string) =>
          fs.writeFile(p.manifest, manifestYaml({ artifacts: [pair(v)], sources: [{ name: 'mirror', url: `${server.url}cf${flavour}/` }], extra: ['compose:', `  files: [${files}]`, '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /models', 'smoke:', '  command: [sh, -c, "test -s /models/model/pair/a.txt"]'].join('\n') }));
        serve('v1');
        await write('v1', 'compose.yaml');
        await fs.writeFile(path.join(p.dir, 'compose.yaml'), `services:\n  worker:\n    image: ${IMAGE}\n    command: [sleep, '100000']\n`);
        await fs.writeFile(path.join(p.dir, 'compose.prod.yaml'), 'services:\n  worker:\n    environment:\n      PROD: "1"\n    mem_limit: 256m\n');
        await fs.writeFile(path.join(p.dir, '.env'), 'COMPOSE_FILE=compose.yaml:compose.prod.yaml:compose.models.yaml\n');
        const cli = (args: string[]) => runCliCaptured([...args, '--manifest', p.manifest], { env, cwd: p.dir });
        // a plain `docker compose`: COMPOSE_FILE from .env
        const dc = (args: string[]) => sh({ cwd: p.dir, env: { ...process.env, ...env } })`${[...compose, ...args]}`;
        const idOf = async () => (await dc(['ps', '-q', 'worker'])).stdout.trim();
        const settings = async (id: string) => {
          const out = await sh`docker inspect --format ${'{{json .Config.Env}} {{.HostConfig.Memory}}'} ${id}`;
          return { prod: out.stdout.includes('"PROD=1"'), memory: out.stdout.trim().split(' ').pop() };
        };
        const overridePath = path.join(p.dir, 'compose.models.yaml');
        const hostFile = path.join(p.hostDir, 'model', 'pair', 'a.txt');
        const current = async () => (await json(await cli(['status', '--json', '--no-docker']))).releases.current;
        /** the refusal changed nothing: release record, override bytes, host folder, running container */
        const unchanged = async (before: { set: string; override: Buffer; file: string; worker: string }) => {
          expect(await current()).toBe(before.set);
          expect((await fs.readFile(overridePath)).equals(before.override)).toBe(true);
          expect(await fs.readFile(hostFile, 'utf8')).toBe(before.file);
          expect(await idOf()).toBe(before.worker);
          expect(await settings(before.worker)).toEqual({ prod: true, memory: String(256 * 1024 * 1024) });
        };
        const refusedWith = async (r: { code: number; stdout: string; stderr: string }) => {
          expect(r.code, r.stderr).toBe(7);
          const { error } = await json(r);
          expect(error.code).toBe('ECOMPOSE_FILES');
          expect(error.message).toContain('compose.prod.yaml');
          expect(error.hint).toContain('files: [compose.yaml, compose.prod.yaml]');
          expect(r.stderr).toMatch(/^✖ .*COMPOSE_FILE/m);
        };
        try {
          const first = await cli(['update', '--yes']);
          expect(first.code, first.stderr).toBe(0);
          const up = await dc(['up', '-d']);
          expect(up.exitCode, up.stderr).toBe(0);
          const worker1 = await idOf();
          expect(await settings(worker1)).toEqual({ prod: true, memory: String(256 * 1024 * 1024) });

          // update --apply: refused before v2 is installed, recorded or written into the override
          serve('v2');
          await write('v2', 'compose.yaml');
          const v1 = { set: setOf('v1'), override: await fs.readFile(overridePath), file: 'v1\n', worker: worker1 };
          await refusedWith(await cli(['update', '--yes', '--apply', '--json']));
          await unchanged(v1);
          expect((await sh`docker exec ${worker1} cat /models/model/pair/a.txt`).stdout).toBe('v1\n');

          // without --apply it installs v2; a plain `docker compose up -d` runs it
          const second = await cli(['update', '--yes', '--no-smoke']);
          expect(second.code, second.stderr).toBe(0);
          expect(await current()).toBe(setOf('v2'));
          expect((await dc(['up', '-d'])).exitCode).toBe(0);
          const worker2 = await idOf();
          expect(worker2).not.toBe(worker1);

          // rollback --apply: refused before the set is switched back and the override rewritten
          const v2 = { set: setOf('v2'), override: await fs.readFile(overridePath), file: 'v2\n', worker: worker2 };
          await refusedWith(await cli(['rollback', '--apply', '--json']));
          await unchanged(v2);

          // listed in compose.files: rollback --apply recreates the worker on v1 with both files' settings
          await write('v2', 'compose.yaml, compose.prod.yaml');
          const rolled = await cli(['rollback', '--apply', '--json']);
          expect(rolled.code, rolled.stderr).toBe(0);
          expect(await json(rolled)).toMatchObject({ ok: true, to: setOf('v1'), apply: { ok: true, recreated: ['worker'] } });
          const worker3 = await idOf();
          expect(worker3).not.toBe(worker2);
          expect((await sh`docker exec ${worker3} cat /models/model/pair/a.txt`).stdout).toBe('v1\n');
          expect(await settings(worker3)).toEqual({ prod: true, memory: String(256 * 1024 * 1024) });
        } finally {
          await dc(['down', '-v', '-t', '1']);
        }
      },
      300_000,
    );
  });
}
