/**
 * One run reads each of the user's Compose files and the project's .env once, however many steps
 * need them: update (the merged-config check, then the smoke test), update --apply (the early
 * COMPOSE_FILE refusal, the check, apply's own rewrite and check, its smoke test) and doctor (the
 * COMPOSE_FILE setting, then a `config` run of each file list). Counted as opens of those paths
 * (a pass-through spy on fs.open: the files are really read) during real runs with real Compose
 * and Docker; the listed service is behind a profile, so every `config` run needs the files and
 * COMPOSE_PROFILES from .env. Compose v2 by default, v1 with MODELS_COMPOSE=docker-compose.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { $ } from 'zx';
import { detectCompose } from '../lib/compose/engine.ts';
import { writeComposeOverride } from '../lib/compose/write-override.ts';
import { runDoctor } from '../lib/doctor/run-doctor.ts';
import { manifestYaml, runCliCaptured, serverFiles, tempProject, type TestArtifact } from './helpers/cli.ts';
import { CONTAINER_DIR, makeFixture, REQUIRE_DOCKER, type Fixture } from './helpers/compose-fixture.ts';
import { buildBusyboxImage, cleanupDocker, itDocker, sh, testRunId } from './helpers/docker.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const IMAGE = `modelmount-test-busybox-once:${testRunId}`;
const PROJECT = `mmonce${testRunId}`;

/** fs.open's calls per path while `run` runs (every call goes on to the real fs.open). */
async function opensDuring<T>(run: () => Promise<T>): Promise<{ result: T; opens: (file: string) => number }> {
  const spy = vi.spyOn(fs, 'open');
  try {
    const result = await run();
    const paths = spy.mock.calls.map((c) => String(c[0]));
    return { result, opens: (file) => paths.filter((p) => p === file).length };
  } finally {
    spy.mockRestore();
  }
}

const model = (version: string): TestArtifact => ({ id: 'model/one', files: [{ path: 'a.txt', data: Buffer.from(`${version}\n`) }] });

describe('update and update --apply read the Compose files and .env once per run', () => {
  let server: FaultServer;
  beforeAll(async () => {
    server = await startFaultServer({ files: {} });
  });
  afterAll(async () => {
    await server?.close().catch(() => {});
    await cleanupDocker({ composeProjects: [PROJECT] });
  }, 120_000);

  itDocker('a service behind a profile, COMPOSE_PROFILES in .env: one open of each per run, with and without --apply', async () => {
    await buildBusyboxImage(IMAGE);
    const serve = (v: string) => {
      for (const [p, data] of Object.entries(serverFiles([model(v)]))) server.setFile(p, data);
    };
    const extra = 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: compose.models.yaml\n  containerDir: /models\nsmoke:\n  command: [test, -s, /models/model/one/a.txt]';
    const p = await tempProject('');
    const write = (v: string) => fs.writeFile(p.manifest, manifestYaml({ artifacts: [model(v)], sources: [{ name: 'mirror', url: server.url }], extra }));
    const composeFile = path.join(p.dir, 'compose.yaml');
    const dotEnv = path.join(p.dir, '.env');
    await fs.writeFile(composeFile, `services:\n  worker:\n    image: ${IMAGE}\n    command: [sleep, '100000']\n    profiles: [ml]\n`);
    await fs.writeFile(dotEnv, 'COMPOSE_PROFILES=debug\n');
    const env = { COMPOSE_PROJECT_NAME: PROJECT };
    const cli = (args: string[]) => runCliCaptured([...args, '--manifest', p.manifest], { env, cwd: p.dir });

    serve('v1');
    await write('v1');
    const first = await opensDuring(() => cli(['update', '--yes']));
    expect(first.result.code, first.result.stderr + first.result.stdout).toBe(0);
    expect(first.result.stderr + first.result.stdout).toMatch(/smoke command\) passed/);
    expect.soft([first.opens(composeFile), first.opens(dotEnv)], "update").toEqual([1, 1]);

    // a running worker on v1: update --apply to v2 recreates it (rewriting and checking the override again) and smoke-tests it
    const up = await sh({ cwd: p.dir, env: { ...process.env, ...env } })`${[...(await detectCompose())!.command, '-f', 'compose.yaml', '-f', 'compose.models.yaml', 'up', '-d', 'worker']}`;
    expect(up.exitCode, up.stderr).toBe(0);
    serve('v2');
    await write('v2');
    const second = await opensDuring(() => cli(['update', '--yes', '--apply', '--json']));
    expect(second.result.code, second.result.stderr).toBe(0);
    expect(JSON.parse(second.result.stdout).apply).toMatchObject({ ok: true, recreated: ['worker'] });
    expect.soft([second.opens(composeFile), second.opens(dotEnv)], "update --apply").toEqual([1, 1]);
  }, 300_000);
});

const engine = await detectCompose();

describe.skipIf(!engine && !REQUIRE_DOCKER)(`doctor reads the project's .env once (real \`${engine?.command.join(' ') ?? 'compose'} config\`)`, () => {
  let fx: Fixture | undefined;
  afterEach(async () => {
    await fx?.cleanup();
    fx = undefined;
  });

  it('a COMPOSE_FILE mismatch (two `config` runs) and a service behind a profile: COMPOSE_FILE and COMPOSE_PROFILES come from one read', async () => {
    fx = await makeFixture({ baseCompose: 'services:\n  ml-worker:\n    image: x\n    profiles: [gpu]\n' });
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const dir = path.join(fx.root, 'compose');
    const dotEnv = path.join(dir, '.env');
    await fs.mkdir(path.join(fx.root, 'local-models'));
    await fs.writeFile(path.join(dir, 'dev.yaml'), `services:\n  ml-worker:\n    volumes:\n      - ../local-models:${CONTAINER_DIR}/student/v0_ja\n`);
    await fs.writeFile(dotEnv, `COMPOSE_PROFILES=debug\nCOMPOSE_FILE=services.yaml${path.delimiter}models.override.yaml${path.delimiter}dev.yaml\n`);
    const { result: findings, opens } = await opensDuring(() => runDoctor(fx!.manifest, fx!.artifacts, { engine: engine!, $, cwd: fx!.root, env: {}, full: true }));
    // the second run (COMPOSE_FILE's files) had ml-worker, its profile on: dev.yaml's writable mount is found at its line
    expect(findings.filter((f) => f.id === 'mount-writable' && f.verdict === 'error').map((f) => [f.file, f.line])).toEqual([[path.join(dir, 'dev.yaml'), 4]]);
    expect(findings.filter((f) => f.id === 'mount-missing' && f.verdict !== 'ok')).toEqual([]);
    expect(findings.filter((f) => f.id === 'override-not-included').map((f) => f.verdict)).toEqual(['ok']);
    expect(opens(dotEnv)).toBe(1);
  });
});
