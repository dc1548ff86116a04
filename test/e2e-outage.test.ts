/**
 * The outage of the ADR, end to end through the CLI with a real Docker engine:
 * the fixture's .dockerignore keeps the models out of the image and nothing
 * mounts them. doctor (exit 7) and smoke (exit 8) catch it; update installs the
 * models, writes the override and smoke-tests; then doctor and smoke pass.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { $ as zx$ } from 'zx';
import { detectCompose } from '../lib/compose/engine.ts';
import { ExitCode } from '../lib/errors.ts';
import { runCliCaptured, tempDir } from './helpers/cli.ts';
import { copyFixture } from './helpers/ml-worker-fixture.ts';
import { buildBusyboxImage, cleanupDocker, describeDocker, testRunId, trackImage } from './helpers/docker.ts';


describeDocker('the outage, caught and fixed through the CLI (real Docker)', () => {
  const baseImage = `modelmount-test-busybox:${testRunId}`;
  const workerImage = `modelmount-test-ml-worker-cli:${testRunId}`;
  const project = `mmcli${testRunId}`;
  const env = {
    MODELMOUNT_FIXTURE_BASE_IMAGE: baseImage,
    MODELMOUNT_FIXTURE_IMAGE: workerImage,
    COMPOSE_PROJECT_NAME: project,
    ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
  };
  let dir: string;
  let manifest: string;

  beforeAll(async () => {
    const engine = await detectCompose();
    if (!engine) throw new Error('Docker is reachable but no Compose (v2 `docker compose` or v1 `docker-compose`) is installed.');
    dir = await tempDir('modelmount-e2e-cli-');
    await copyFixture(dir);
    manifest = path.join(dir, 'manifest.yaml');
    await buildBusyboxImage(baseImage);
    trackImage(workerImage);
    const build = await zx$({ quiet: true, nothrow: true, cwd: dir, timeout: '300s', env: { ...process.env, ...env } })`${[...engine.command, '-f', 'compose.yaml', 'build', 'ml-worker']}`;
    if (build.exitCode !== 0) throw new Error(`building the fixture image failed:\n${build.stderr || build.stdout}`);
  }, 300_000);

  afterAll(async () => {
    await cleanupDocker({ composeProjects: [project] });
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('doctor reports the outage with the .dockerignore line (exit 7)', async () => {
    const r = await runCliCaptured(['doctor', '--manifest', manifest, '--json'], { env, cwd: dir });
    expect(r.code).toBe(ExitCode.compose);
    const doc = JSON.parse(r.stdout);
    const outage = doc.findings.filter((f: { id: string; verdict: string }) => f.id === 'dockerignore-excludes-artifacts' && f.verdict === 'error');
    expect(outage).toHaveLength(2);
    expect(outage[0].file).toBe(path.join(dir, '.dockerignore'));
    expect(outage[0].line).toBe((await fs.readFile(path.join(dir, '.dockerignore'), 'utf8')).split('\n').indexOf('learning_machine/artifacts') + 1);
    expect(outage[0].message).toContain('RuntimeError: At least one model (JA or EN) must be loaded');
  });

  it('smoke fails with words a user understands and the app\'s own RuntimeError (exit 8)', async () => {
    const r = await runCliCaptured(['smoke', '--manifest', manifest], { env, cwd: dir });
    expect(r.code).toBe(ExitCode.smoke);
    expect(r.stdout + r.stderr).toMatch(/student\/v0_ja is not mounted at \/app\/learning_machine\/artifacts\/student\/v0_ja in ml-worker: is the override included\?/);
    expect(r.stdout).toContain('RuntimeError: At least one model (JA or EN) must be loaded');
  }, 180_000);

  it('update installs, writes and validates the override, and the smoke test passes; then doctor and smoke agree', async () => {
    const r = await runCliCaptured(['update', '--manifest', manifest, '--yes', '--json'], { env, cwd: dir });
    expect(r.stderr).not.toContain('✖');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.compose).toMatchObject({ validated: true, changed: true, override: path.join(dir, 'compose.models.yaml') });
    expect(doc.smoke.ok).toBe(true);
    expect(doc.smoke.services[0].command.status).toBe('passed');
    expect(doc.smoke.services[0].command.outputTail.join('\n')).toContain('ml-worker ready: 2 model(s) loaded');

    const override = await fs.readFile(path.join(dir, 'compose.models.yaml'), 'utf8');
    expect(override).toContain('read_only: true');
    // each artifact is mounted from its immutable release folder, named by its content digest
    expect(override).toMatch(new RegExp(`source: ${path.join(dir, 'learning_machine', 'artifacts', '.modelmount', 'releases', 'student', 'v0_ja')}/[0-9a-f]{64}\n`));

    const doctor = await runCliCaptured(['doctor', '--manifest', manifest, '--json'], { env, cwd: dir });
    expect(doctor.code).toBe(0);
    expect(JSON.parse(doctor.stdout).findings.filter((f: { verdict: string }) => f.verdict === 'error')).toEqual([]);
    const smoke = await runCliCaptured(['smoke', '--manifest', manifest, '--full', '--json'], { env, cwd: dir });
    expect(smoke.code).toBe(0);
    expect(JSON.parse(smoke.stdout).services[0].check.status).toBe('passed');
  }, 300_000);

  it('compose --print shows the exact command line, and a foreign override file is refused untouched (exit 7)', async () => {
    const printed = await runCliCaptured(['compose', '--manifest', manifest, '--print'], { env, cwd: dir });
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/-f compose\.yaml -f compose\.models\.yaml/);
    expect(printed.stdout).toContain('COMPOSE_FILE=');
    const override = path.join(dir, 'compose.models.yaml');
    await fs.writeFile(override, 'services: {}\n# mine\n');
    const refused = await runCliCaptured(['compose', '--manifest', manifest], { env, cwd: dir });
    expect(refused.code).toBe(ExitCode.compose);
    expect(refused.stderr).toContain('was not generated by modelmount');
    expect(await fs.readFile(override, 'utf8')).toBe('services: {}\n# mine\n');
  }, 120_000);

  it('bootstrap --yes on a fresh copy ends with a passing smoke test and doctor; running it again changes nothing', async () => {
    const fresh = await tempDir('modelmount-e2e-bootstrap-');
    try {
      await copyFixture(fresh);
      const m = path.join(fresh, 'manifest.yaml');
      const first = await runCliCaptured(['bootstrap', '--manifest', m, '--yes', '--json'], { env, cwd: fresh });
      expect(first.code).toBe(0);
      const doc = JSON.parse(first.stdout);
      expect(doc.checks.find((c: { id: string }) => c.id === 'docker').verdict).toBe('ok');
      expect(doc.smoke.ok).toBe(true);
      expect(doc.doctor.filter((f: { verdict: string }) => f.verdict === 'error')).toEqual([]);
      expect(doc.next).toMatch(/-f compose\.yaml -f compose\.models\.yaml up -d$/);
      const overrideBefore = await fs.stat(path.join(fresh, 'compose.models.yaml'));
      const second = await runCliCaptured(['bootstrap', '--manifest', m, '--yes', '--no-smoke', '--json'], { env, cwd: fresh });
      expect(second.code).toBe(0);
      const doc2 = JSON.parse(second.stdout);
      expect(doc2.update.totals).toMatchObject({ installed: 0, bytesTransferred: 0 });
      expect(doc2.compose.changed).toBe(false);
      expect((await fs.stat(path.join(fresh, 'compose.models.yaml'))).mtimeMs).toBe(overrideBefore.mtimeMs);
    } finally {
      await fs.rm(fresh, { recursive: true, force: true });
    }
  }, 300_000);
});
