/**
 * `modelmount status`: per artifact selected/installed/verified/size/source,
 * mounted by the override (the real override writer's output), and — with a
 * real Docker engine — whether a running container of the service has it mounted.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport } from '../lib/status/report.ts';
import { detectCompose } from '../lib/compose/engine.ts';
import { renderOverride } from '../lib/compose/override.ts';
import { loadManifest } from '../lib/manifest/load.ts';
import { stuckOperationsSettled } from '../lib/stall.ts';
import { gatherStatus } from '../lib/status/gather-status.ts';
import { STAT_WORKER_MIN } from '../lib/verify/stat-verdicts.ts';
import { verifyHostFiles } from '../lib/verify/verify-files.ts';
import { cliEnv, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, tempProject, writeSourceTree, type TestArtifact } from './helpers/cli.ts';
import { hasCommand } from './helpers/compose-fixture.ts';
import { buildBusyboxImage, cleanupDocker, itDocker, sh, TEST_LABEL, testRunId } from './helpers/docker.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

let server: FaultServer;
let artifacts: TestArtifact[];
const SERVICE = `mmstatus-${testRunId}`;

beforeAll(async () => {
  artifacts = sampleArtifacts({ ja: 50_000, en: 40_000, teacher: 1000 });
  server = await startFaultServer({ files: serverFiles(artifacts) });
});
afterAll(async () => {
  await server.close();
  await cleanupDocker();
});

const COMPOSE = `compose:
  files: [compose.yaml]
  services: [${SERVICE}]
  override: compose.models.yaml
  containerDir: /app/artifacts`;

/** A project with student/v0_ja installed (from "mirror") and the override mounting it. */
async function installedProject() {
  const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }], extra: COMPOSE }));
  await fs.writeFile(path.join(p.dir, 'compose.yaml'), `services:\n  ${SERVICE}:\n    image: busybox\n`);
  const up = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--only', 'student/v0_ja', '--no-compose', '--no-smoke']);
  expect(up.code, up.stderr).toBe(0);
  const manifest = await loadManifest(p.manifest);
  await fs.writeFile(manifest.compose!.override, renderOverride({ manifest, artifacts: manifest.artifacts.filter((a) => a.id === 'student/v0_ja') }));
  return { ...p, manifest };
}

async function status(manifest: string, extra: string[] = []): Promise<StatusReport> {
  const r = await runCliCaptured(['status', '--manifest', manifest, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatusReport;
}

describe('status', () => {
  it('reports selection, install state, size, source and override mounts per artifact (JSON)', async () => {
    const p = await installedProject();
    const r = await status(p.manifest.path, ['--no-docker']);
    expect(r).toMatchObject({ command: 'status', ok: true, hostDir: p.hostDir, override: { path: path.join(p.dir, 'compose.models.yaml'), exists: true } });
    expect(r.docker).toEqual({ checked: false, reachable: false, detail: 'not checked (--no-docker)' });
    const [ja, en, teacher] = r.artifacts;
    expect(ja).toMatchObject({
      id: 'student/v0_ja',
      selected: true,
      installed: 'verified',
      verified: true,
      size: 50_000 + 14,
      files: 2,
      inStore: true,
      source: 'mirror',
      override: { mounted: true, services: [SERVICE] },
      containers: null,
    });
    expect(ja!.installedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    // selected = what the last update installed (its install record), unless flags say otherwise
    expect(en).toMatchObject({ id: 'student/v0_en', selected: false, installed: 'missing', verified: false, inStore: false, source: null, override: { mounted: false, services: [] } });
    expect(teacher).toMatchObject({ id: 'teacher/v0', selected: false, optional: true, installed: 'missing' });
    // selection flags only change what counts as selected
    const onlyTeacher = await status(p.manifest.path, ['--no-docker', '--only', 'teacher/v0']);
    expect(onlyTeacher.artifacts.map((a) => a.selected)).toEqual([false, false, true]);
  });

  it('--full re-hashes and reports a file edited with its size and mtime kept as damaged, in JSON and in the table', async () => {
    const p = await installedProject();
    const file = path.join(p.hostDir, 'student/v0_ja/model.safetensors');
    const st = await fs.stat(file);
    // break the hardlink first so the store's copy stays intact, then flip a byte and restore the mtime
    const bytes = await fs.readFile(file);
    await fs.rm(file);
    bytes[0] = bytes[0]! ^ 0xff;
    await fs.writeFile(file, bytes);
    await fs.utimes(file, st.atime, st.mtime);
    const full = await status(p.manifest.path, ['--no-docker', '--full']);
    expect(full.full).toBe(true);
    expect(full.artifacts[0]).toMatchObject({ installed: 'damaged', verified: false, problems: [{ path: 'model.safetensors', status: 'modified' }] });
    const table = await runCliCaptured(['status', '--manifest', p.manifest.path, '--no-docker']);
    expect(table.stdout).toMatch(/^ARTIFACT\s+SELECTED\s+INSTALLED\s+SIZE\s+SOURCE\s+OVERRIDE\s+CONTAINERS$/m);
    expect(table.stdout).toMatch(/^student\/v0_ja\s+yes\s+damaged \(1 file\)/m);
    expect(table.stdout).toContain('✖ student/v0_ja/model.safetensors: modified');
  });

  it('creates nothing when nothing is installed, and says the override is not written yet', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }], extra: COMPOSE }));
    const r = await runCliCaptured(['status', '--manifest', p.manifest, '--no-docker']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^student\/v0_ja\s+yes\s+missing/m);
    expect(r.stdout).toContain('not written yet');
    await expect(fs.stat(p.hostDir)).rejects.toThrow();
    await expect(fs.stat(p.cacheDir)).rejects.toThrow();
  });

  it('without a compose section, override and containers are null', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const r = await status(p.manifest);
    expect(r.override).toBeNull();
    expect(r.docker.checked).toBe(false);
    expect(r.artifacts.every((a) => a.override === null && a.containers === null)).toBe(true);
  });

  itDocker(
    "lists the running containers of this Compose project's services and what each mounts, not another project's of the same service name",
    async () => {
      const p = await installedProject();
      const image = await buildBusyboxImage(`modelmount-status-test:${testRunId}`);
      const project = `mmstatus${testRunId}`;
      await fs.writeFile(path.join(p.dir, 'compose.yaml'), `services:\n  ${SERVICE}:\n    image: ${image}\n    command: ["sleep", "300"]\n    network_mode: none\n    labels: {${TEST_LABEL}: ${testRunId}}\n`);
      const env = { ...process.env, COMPOSE_PROJECT_NAME: project };
      const engine = (await detectCompose({ env }))!;
      const up = await sh({ cwd: p.dir, env })`${[...engine.command, '-f', 'compose.yaml', '-f', 'compose.models.yaml', 'up', '-d']}`;
      expect(up.exitCode, up.stderr).toBe(0);
      // another project's container of a service with the same name, mounting nothing
      const other = await sh`docker run -d --rm --network none --label ${`${TEST_LABEL}=${testRunId}`} --label ${`com.docker.compose.service=${SERVICE}`} --label ${'com.docker.compose.project=someone-else'} ${image} sleep 300`;
      expect(other.exitCode, other.stderr).toBe(0);
      try {
        const id = (await sh({ cwd: p.dir, env })`${[...engine.command, '-f', 'compose.yaml', '-f', 'compose.models.yaml', 'ps', '-q', SERVICE]}`).stdout.trim();
        expect(id).not.toBe('');
        const r = await runCliCaptured(['status', '--manifest', p.manifest.path, '--json'], { env: { COMPOSE_PROJECT_NAME: project } });
        expect(r.code, r.stderr).toBe(0);
        const doc = JSON.parse(r.stdout) as StatusReport;
        expect(doc.docker).toMatchObject({ checked: true, reachable: true });
        expect(doc.docker.detail).toContain('1 running container');
        const [ja, en] = doc.artifacts;
        expect(ja!.containers).toEqual([{ service: SERVICE, name: expect.any(String), id: id.slice(0, 12), project, mounted: true, readOnly: true }]);
        expect(en!.containers).toEqual([expect.objectContaining({ service: SERVICE, id: id.slice(0, 12), mounted: false })]);
        const table = await runCliCaptured(['status', '--manifest', p.manifest.path], { env: { COMPOSE_PROJECT_NAME: project } });
        expect(table.stdout).toMatch(/^student\/v0_ja .* mounted\s+\S+: mounted ro$/m);
        expect(table.stdout).toMatch(/^student\/v0_en .*: NOT mounted$/m);
        expect(table.stdout).not.toContain(other.stdout.trim().slice(0, 12));
      } finally {
        await sh`docker rm -f ${other.stdout.trim()}`;
        await sh({ cwd: p.dir, env })`${[...engine.command, '-f', 'compose.yaml', '-f', 'compose.models.yaml', 'down', '-t', '0']}`;
      }
    },
    180_000,
  );

  for (const flavour of ['v2', 'v1'] as const) {
    // each flavour forced: CI's v1 pass sets MODELS_COMPOSE=docker-compose for the whole run
    const composeEnv = { MODELS_COMPOSE: flavour === 'v1' ? 'docker-compose' : 'docker compose' };
    itDocker(
      `Compose ${flavour}: with the override not written yet, the project's containers are still listed (ps with the Compose files that exist)`,
      async () => {
        if (flavour === 'v1' && !(await hasCommand('docker-compose'))) throw new Error('docker-compose (v1) is not installed');
        const p = await installedProject();
        const image = await buildBusyboxImage(`modelmount-status-test:${testRunId}`);
        const project = `mmstatusnoov${flavour}${testRunId}`;
        await fs.rm(p.manifest.compose!.override);
        await fs.writeFile(path.join(p.dir, 'compose.yaml'), `services:\n  ${SERVICE}:\n    image: ${image}\n    command: ["sleep", "300"]\n    network_mode: none\n    labels: {${TEST_LABEL}: ${testRunId}}\n`);
        const env = { ...process.env, ...composeEnv, COMPOSE_PROJECT_NAME: project };
        const engine = (await detectCompose({ env }))!;
        const dc = (args: string[]) => sh({ cwd: p.dir, env })`${[...engine.command, '-f', 'compose.yaml', ...args]}`;
        const up = await dc(['up', '-d']);
        expect(up.exitCode, up.stderr).toBe(0);
        try {
          const id = (await dc(['ps', '-q', SERVICE])).stdout.trim();
          expect(id).not.toBe('');
          const r = await runCliCaptured(['status', '--manifest', p.manifest.path, '--json'], { env: { ...composeEnv, COMPOSE_PROJECT_NAME: project } });
          expect(r.code, r.stderr).toBe(0);
          const doc = JSON.parse(r.stdout) as StatusReport;
          expect(doc.override).toMatchObject({ exists: false });
          expect(doc.docker).toMatchObject({ checked: true, reachable: true });
          expect(doc.docker.detail).toContain('1 running container');
          expect(doc.artifacts[0]!.containers).toEqual([expect.objectContaining({ service: SERVICE, id: id.slice(0, 12), mounted: false })]);
        } finally {
          await dc(['down', '-t', '0']);
        }
      },
      180_000,
    );

    itDocker(`Compose ${flavour}: a Compose file Compose cannot read: containers not checked (the command and its error), not "0 running containers"`, async () => {
      if (flavour === 'v1' && !(await hasCommand('docker-compose'))) throw new Error('docker-compose (v1) is not installed');
      const p = await installedProject();
      await fs.writeFile(path.join(p.dir, 'compose.yaml'), `services:\n  ${SERVICE}:\n    image: [busybox\n`);
      // no COMPOSE_PROJECT_NAME: with one, v2's ps lists that project's containers without reading the files
      const env = composeEnv;
      const command = flavour === 'v1' ? 'docker-compose ps' : 'docker compose ps';
      const r = await runCliCaptured(['status', '--manifest', p.manifest.path, '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as StatusReport;
      expect(doc.docker).toMatchObject({ checked: false, reachable: true });
      expect(doc.docker.detail).toMatch(new RegExp(`containers not checked: \`${command}\` failed \\(\\S.*\\)$`));
      expect(doc.docker.detail).not.toContain('running container');
      expect(doc.artifacts.every((a) => a.containers === null)).toBe(true);
      expect(doc.containers).toBeNull();
      const table = await runCliCaptured(['status', '--manifest', p.manifest.path], { env });
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(new RegExp(`^Containers: .*containers not checked: \`${command}\` failed \\(`, 'm'));
      expect(table.stdout).not.toContain('0 running containers');
    }, 120_000);
  }

  it('says so when no Docker engine is reachable', async () => {
    const p = await installedProject();
    const r = await runCliCaptured(['status', '--manifest', p.manifest.path, '--json'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as StatusReport;
    expect(doc.docker).toMatchObject({ checked: true, reachable: false });
    expect(doc.docker.detail).toContain('no Docker engine is reachable');
    expect(doc.artifacts[0]!.containers).toBeNull();
  });

  it('item 2 (issue 9): artifacts another manifest installed in the shared host folder are that manifest\'s, not "no longer in the manifest"', async () => {
    const sources = [{ name: 'mirror', url: server.url }];
    const p = await tempProject(manifestYaml({ artifacts: [artifacts[0]!], sources }));
    const b = path.join(p.dir, 'b.yaml');
    await fs.writeFile(b, manifestYaml({ artifacts: [artifacts[1]!], sources }));
    for (const m of [b, p.manifest]) expect((await runCliCaptured(['update', '--manifest', m, '--yes', '--no-compose', '--no-smoke'])).code).toBe(0);
    const r = await status(p.manifest, ['--no-docker']);
    expect(r.unlisted).toEqual([]);
    expect(r.otherManifests).toEqual([{ manifest: b, artifacts: ['student/v0_en'] }]);
    const table = await runCliCaptured(['status', '--manifest', p.manifest, '--no-docker']);
    expect(table.stdout).not.toContain('no longer in the manifest');
    expect(table.stdout).toContain(`Also in this host folder, installed for ${b}: student/v0_en`);
    // an artifact this manifest itself dropped is still reported as such
    await fs.writeFile(p.manifest, manifestYaml({ artifacts: [artifacts[2]!], sources }));
    const dropped = await status(p.manifest, ['--no-docker']);
    expect(dropped.unlisted).toEqual(['student/v0_ja']);
  });

  it('a symlinked <hostDir>/.modelmount: status still exits 0, shows the problem in the table and in JSON, and writes nothing through the link', async () => {
    const p = await installedProject();
    const meta = path.join(p.hostDir, '.modelmount');
    const elsewhere = path.join(p.dir, 'elsewhere');
    await fs.rename(meta, elsewhere);
    await fs.symlink(elsewhere, meta);
    const before = (await fs.readdir(elsewhere, { recursive: true })).sort();
    const r = await status(p.manifest.path, ['--no-docker']);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ code: 'ENOTREALDIR' });
    expect(r.problems[0]!.message).toContain(`${meta} is a symlink`);
    // the files themselves are still checked (hashed), against the manifest
    expect(r.artifacts.find((a) => a.id === 'student/v0_ja')).toMatchObject({ installed: 'verified' });
    const table = await runCliCaptured(['status', '--manifest', p.manifest.path, '--no-docker']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(`✖ ${meta} is a symlink`);
    expect(table.stdout).toContain(`rm ${meta}`);
    expect((await fs.readdir(elsewhere, { recursive: true })).sort()).toEqual(before);
    // and without a problem, the list is empty
    await fs.rm(meta);
    await fs.rename(elsewhere, meta);
    expect((await status(p.manifest.path, ['--no-docker'])).problems).toEqual([]);
  });

  it('a host folder that stops answering (the stat worker goes silent) is a stall at once (ESTALLED, exit 5): its files are not looked at again on the main thread', async () => {
    const many: TestArtifact = { id: 'many/v0', files: Array.from({ length: STAT_WORKER_MIN }, (_, i) => ({ path: `f${i}`, data: Buffer.from(`body ${i}`) })) };
    const p = await tempProject(manifestYaml({ artifacts: [many], sources: [{ name: 'mirror', url: server.url }] }));
    await writeSourceTree(p.hostDir, [many]);
    // the state cache vouches for every file: status asks the stat worker
    expect((await verifyHostFiles(p.hostDir, (await loadManifest(p.manifest)).artifacts)).every((c) => c.status === 'ok')).toBe(true);
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: cliEnv(), cwd: p.dir, isTTY: false };
    const silent = new URL('./helpers/stat-worker-silent.mjs', import.meta.url);
    const err = await gatherStatus({ manifest: p.manifest, docker: false }, io, { verify: { idleMs: 300, statWorkerUrl: silent } }).catch((e: unknown) => e);
    // a retry on the main thread (where this folder answers) would end in a report listing the stall as a problem
    expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
    expect((err as Error).message).toContain(p.hostDir);
    expect(await stuckOperationsSettled(10_000)).toBe(true); // the silent worker was terminated
  });
});
