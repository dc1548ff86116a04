/**
 * `modelmount init`: with flags, without a terminal (defaults or the flag to add), on a real
 * pseudo-terminal, and init → update → doctor → smoke against a loopback server and real Docker.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { detectCompose } from '../lib/compose/engine.ts';
import { loadManifest } from '../lib/manifest/load.ts';
import { runCliCaptured, serverFiles, sha256, tempDir, writeSourceTree, type TestArtifact } from './helpers/cli.ts';
import { buildBusyboxImage, cleanupDocker, itDocker, sh, testRunId } from './helpers/docker.ts';
import { CTRL_C, ENTER, SPACE, hasScript, onTerminal } from './helpers/terminal.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const artifacts: TestArtifact[] = [
  { id: 'student/v0_ja', files: [{ path: 'model.bin', data: Buffer.from('ja weights\n') }, { path: 'tok/vocab.txt', data: Buffer.from('a\nb\n') }] },
  { id: 'student/v0_en', files: [{ path: 'model.bin', data: Buffer.from('en weights\n') }] },
];

const IMAGE = `modelmount-test-init:${testRunId}`;

/** A user's project: compose.yaml (worker + db), the published artifacts in ./published, optionally a package.json. */
async function userProject(opts: { node?: boolean } = {}): Promise<string> {
  const dir = await tempDir('modelmount-init-');
  await writeSourceTree(path.join(dir, 'published'), artifacts);
  await fs.writeFile(path.join(dir, 'compose.yaml'), `services:\n  worker:\n    image: ${IMAGE}\n    command: ["sleep", "1"]\n  db:\n    image: ${IMAGE}\n`);
  if (opts.node) await fs.writeFile(path.join(dir, 'package.json'), '{\n  "name": "app",\n  "private": true,\n  "scripts": {\n    "test": "true"\n  }\n}\n');
  return dir;
}

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer({ files: serverFiles(artifacts, '/ml/') });
});
afterAll(() => server.close());

const FLAGS = () => ['init', '--from', 'published', '--sources', `${server.url}ml/`, '--services', 'worker', '--container-dir', '/app/models', '--labels', 'role=student,student/v0_ja:lang=ja,student/v0_en:lang=en'];

describe('init with flags', () => {
  it('writes a commented manifest that manifest check accepts, with every answer in it', async () => {
    const dir = await userProject();
    const r = await runCliCaptured([...FLAGS(), '--smoke-command', 'test -s /app/models/student/v0_ja/model.bin'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Wrote manifests/models.yaml: 2 artifacts');
    const text = await fs.readFile(path.join(dir, 'manifests', 'models.yaml'), 'utf8');
    expect(text).toMatch(/^# modelmount manifest, written by `modelmount init`/);
    expect(text).toContain('# Where the files come from');
    const check = await runCliCaptured(['manifest', 'check'], { cwd: dir });
    expect(check.code, check.stderr).toBe(0);
    const m = await loadManifest(path.join(dir, 'manifests', 'models.yaml'));
    expect(m.hostDir).toBe(path.join(dir, 'models'));
    expect(m.sources).toEqual([{ name: 'main', kind: 'http', base: `${server.url}ml/` }]);
    expect(m.artifacts.map((a) => [a.id, a.labels, a.files.map((f) => [f.path, f.size, f.sha256])])).toEqual([
      ['student/v0_en', { role: 'student', lang: 'en' }, [['model.bin', 11, sha256(artifacts[1]!.files[0]!.data)]]],
      ['student/v0_ja', { role: 'student', lang: 'ja' }, [['model.bin', 11, sha256(artifacts[0]!.files[0]!.data)], ['tok/vocab.txt', 4, sha256(artifacts[0]!.files[1]!.data)]]],
    ]);
    expect(m.compose).toMatchObject({ files: [path.join(dir, 'compose.yaml')], services: ['worker'], override: path.join(dir, 'compose.models.yaml'), containerDir: '/app/models' });
    expect(m.smoke?.command).toEqual(['sh', '-c', 'test -s /app/models/student/v0_ja/model.bin']);
    // nothing else was touched without being asked
    await expect(fs.access(path.join(dir, '.env'))).rejects.toThrow();
  });

  it('adds the models:* npm scripts in a Node project and sets COMPOSE_FILE in .env, keeping what is there', async () => {
    const dir = await userProject({ node: true });
    await fs.writeFile(path.join(dir, '.env'), 'APP_PORT=8080\n');
    const r = await runCliCaptured([...FLAGS(), '--manifest', 'ops/models.yaml', '--npm-scripts', '--compose-env'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('modelmount is not among its dependencies yet: `npm install -D modelmount`');
    expect(r.stdout).toContain('Next: publish the artifacts');
    expect(r.stdout).toContain('  npm run models:update   installs and verifies them');
    const pkg = JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8'));
    expect(pkg.scripts.test).toBe('true');
    expect(pkg.scripts['models:update']).toBe('modelmount update --manifest ops/models.yaml');
    expect(pkg.scripts['models:doctor']).toBe('modelmount doctor --manifest ops/models.yaml');
    expect(await fs.readFile(path.join(dir, '.env'), 'utf8')).toBe('APP_PORT=8080\nCOMPOSE_FILE=compose.yaml:compose.models.yaml\n');
    // again with --force: nothing doubles
    const again = await runCliCaptured([...FLAGS(), '--manifest', 'ops/models.yaml', '--npm-scripts', '--compose-env', '--force'], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(await fs.readFile(path.join(dir, '.env'), 'utf8')).toBe('APP_PORT=8080\nCOMPOSE_FILE=compose.yaml:compose.models.yaml\n');
  });

  it('without a terminal and without --sources: exit 2 naming the flag, nothing written', async () => {
    const dir = await userProject();
    const r = await runCliCaptured(['init', '--from', 'published'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('init needs the sources');
    expect(r.stderr).toContain('--sources https://');
    const noFrom = await runCliCaptured(['init', '--sources', server.url], { cwd: dir });
    expect(noFrom.code).toBe(2);
    expect(noFrom.stderr).toContain('--from ./artifacts');
    const services = await runCliCaptured(['init', '--from', 'published', '--sources', server.url], { cwd: dir });
    expect(services.code).toBe(2);
    expect(services.stderr).toContain('the services that load the models (worker, db)');
    expect(services.stderr).toContain('--services worker');
    await expect(fs.access(path.join(dir, 'manifests'))).rejects.toThrow();
  });

  it("finds services that come from an include:d Compose file (as Compose does), relative to the including file", async () => {
    const dir = await userProject();
    await fs.mkdir(path.join(dir, 'ml'));
    await fs.writeFile(path.join(dir, 'ml', 'compose.yaml'), 'services:\n  trainer:\n    image: busybox\n');
    await fs.writeFile(path.join(dir, 'compose.yaml'), 'include:\n  - ml/compose.yaml\n  - path: [missing.yaml]\nservices:\n  worker:\n    image: busybox\n');
    const r = await runCliCaptured(['init', '--from', 'published', '--sources', `${server.url}ml/`, '--services', 'trainer'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const m = await loadManifest(path.join(dir, 'manifests', 'models.yaml'));
    expect(m.compose?.services).toEqual(['trainer']);
    const unknown = await runCliCaptured(['init', '--force', '--from', 'published', '--sources', `${server.url}ml/`, '--services', 'nope'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('worker, trainer');
  });

  it('a COMPOSE_FILE of blanks names no file: the detected compose.yaml, no crash', async () => {
    const dir = await userProject();
    const r = await runCliCaptured(FLAGS(), { cwd: dir, env: { COMPOSE_FILE: ' ' } });
    expect(r.code, r.stderr).toBe(0);
    expect((await loadManifest(path.join(dir, 'manifests', 'models.yaml'))).compose?.files).toEqual([path.join(dir, 'compose.yaml')]);
  });

  it('a --sources URL with a password or a signed query is refused without repeating the secret', async () => {
    const dir = await userProject();
    for (const url of ['https://alice:hunter2PW@models.example.com/ml/', 'https://models.example.com/ml/?X-Amz-Signature=QUERYSIG123']) {
      const r = await runCliCaptured(['init', '--from', 'published', '--sources', url, '--services', 'worker'], { cwd: dir });
      expect(r.code, url).toBe(2);
      expect(r.stderr + r.stdout).not.toMatch(/hunter2PW|QUERYSIG123/);
      expect(r.stderr).toContain('models.example.com');
    }
  });

  it('takes the documented defaults: host folder models/ when it holds the artifacts, the only service, /models', async () => {
    const dir = await tempDir('modelmount-init-');
    await writeSourceTree(path.join(dir, 'models'), artifacts);
    await fs.writeFile(path.join(dir, 'docker-compose.yml'), `services:\n  app:\n    image: ${IMAGE}\n`);
    const r = await runCliCaptured(['init', '--sources', 'published'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const m = await loadManifest(path.join(dir, 'manifests', 'models.yaml'));
    expect(m.hostDir).toBe(path.join(dir, 'models'));
    expect(m.sources).toEqual([{ name: 'main', kind: 'file', base: path.join(dir, 'published') }]);
    expect(m.artifacts.map((a) => a.id)).toEqual(['student/v0_en', 'student/v0_ja']);
    expect(m.compose).toMatchObject({ files: [path.join(dir, 'docker-compose.yml')], services: ['app'], containerDir: '/models' });
  });

  it('refuses an existing manifest (exit 2) unless --force', async () => {
    const dir = await userProject();
    await fs.mkdir(path.join(dir, 'manifests'));
    await fs.writeFile(path.join(dir, 'manifests', 'models.yaml'), 'mine\n');
    const r = await runCliCaptured(FLAGS(), { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('manifests/models.yaml already exists');
    expect(r.stderr).toContain('--force');
    expect(await fs.readFile(path.join(dir, 'manifests', 'models.yaml'), 'utf8')).toBe('mine\n');
    expect((await runCliCaptured([...FLAGS(), '--force'], { cwd: dir })).code).toBe(0);
  });

  it('refuses files directly in --from and symlinks in an artifact, before hashing', async () => {
    const dir = await userProject();
    await fs.writeFile(path.join(dir, 'published', 'loose.bin'), 'x');
    const loose = await runCliCaptured(FLAGS(), { cwd: dir });
    expect(loose.code).toBe(2);
    expect(loose.stderr).toContain('holds files directly (loose.bin)');
    await fs.rm(path.join(dir, 'published', 'loose.bin'));
    await fs.symlink('/etc/passwd', path.join(dir, 'published', 'student', 'v0_en', 'passwd'));
    const link = await runCliCaptured(FLAGS(), { cwd: dir });
    expect(link.code).toBe(2);
    expect(link.stderr).toContain('passwd is a symlink');
    await expect(fs.access(path.join(dir, 'manifests'))).rejects.toThrow();
  });


  it("lists the Compose override file Compose reads automatically (compose.override.yml) after the base, so -f and COMPOSE_FILE keep it", async () => {
    const dir = await userProject();
    await fs.writeFile(path.join(dir, 'compose.override.yml'), 'services:\n  worker:\n    environment: {DEBUG: "1"}\n');
    const r = await runCliCaptured([...FLAGS(), '--compose-env'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const m = await loadManifest(path.join(dir, 'manifests', 'models.yaml'));
    expect(m.compose?.files).toEqual([path.join(dir, 'compose.yaml'), path.join(dir, 'compose.override.yml')]);
    expect(await fs.readFile(path.join(dir, '.env'), 'utf8')).toContain('COMPOSE_FILE=compose.yaml:compose.override.yml:compose.models.yaml\n');
  });

  it('takes COMPOSE_FILE (the project .env, else the environment) as the Compose files, minus the models override, which goes last; --compose-files wins', async () => {
    const d = path.delimiter;
    const dir = await userProject();
    await fs.writeFile(path.join(dir, 'compose.prod.yaml'), 'services:\n  worker:\n    environment: {PROD: "1"}\n');
    await fs.writeFile(path.join(dir, 'compose.dev.yaml'), 'services:\n  worker:\n    environment: {DEV: "1"}\n');
    await fs.writeFile(path.join(dir, '.env'), `APP_PORT=8080\nCOMPOSE_FILE=compose.yaml${d}compose.prod.yaml\n`);
    const files = async () => (await loadManifest(path.join(dir, 'manifests', 'models.yaml'))).compose?.files;
    const r = await runCliCaptured([...FLAGS(), '--compose-env'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(await files()).toEqual([path.join(dir, 'compose.yaml'), path.join(dir, 'compose.prod.yaml')]);
    expect(await fs.readFile(path.join(dir, '.env'), 'utf8')).toBe(`APP_PORT=8080\nCOMPOSE_FILE=compose.yaml${d}compose.prod.yaml${d}compose.models.yaml\n`);
    // a file after the override: listed before it, and the override moved last
    await fs.writeFile(path.join(dir, '.env'), `COMPOSE_FILE=compose.yaml${d}compose.models.yaml${d}compose.dev.yaml\n`);
    expect((await runCliCaptured([...FLAGS(), '--compose-env', '--force'], { cwd: dir })).code).toBe(0);
    expect(await files()).toEqual([path.join(dir, 'compose.yaml'), path.join(dir, 'compose.dev.yaml')]);
    expect(await fs.readFile(path.join(dir, '.env'), 'utf8')).toBe(`COMPOSE_FILE=compose.yaml${d}compose.dev.yaml${d}compose.models.yaml\n`);
    // the environment's COMPOSE_FILE wins over .env, as in Compose
    const env = await runCliCaptured([...FLAGS(), '--force'], { cwd: dir, env: { COMPOSE_FILE: `compose.yaml${d}compose.prod.yaml` } });
    expect(env.code, env.stderr).toBe(0);
    expect(await files()).toEqual([path.join(dir, 'compose.yaml'), path.join(dir, 'compose.prod.yaml')]);
    // explicit files win
    expect((await runCliCaptured([...FLAGS(), '--force', '--compose-files', 'compose.yaml'], { cwd: dir })).code).toBe(0);
    expect(await files()).toEqual([path.join(dir, 'compose.yaml')]);
    // a listed file that is not there: exit 2 naming it
    await fs.writeFile(path.join(dir, '.env'), `COMPOSE_FILE=compose.yaml${d}compose.gone.yaml\n`);
    const gone = await runCliCaptured([...FLAGS(), '--force'], { cwd: dir });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('compose.gone.yaml');
  });

  it('writes folders outside the project as absolute paths (the manifest is shared), those inside relative to it', async () => {
    const dir = await userProject();
    const outside = await tempDir('modelmount-init-share-');
    await writeSourceTree(path.join(outside, 'ml'), artifacts);
    const hostOutside = path.join(await tempDir('modelmount-init-srv-'), 'models');
    const r = await runCliCaptured(['init', '--from', 'published', '--sources', `published/,${outside}/ml/`, '--host-dir', hostOutside, '--services', 'worker'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const text = await fs.readFile(path.join(dir, 'manifests', 'models.yaml'), 'utf8');
    expect(text).toContain(`hostDir: ${hostOutside}\n`);
    expect(text).toContain('url: ../published\n');
    expect(text).toContain(`url: ${outside}/ml\n`);
    expect(text).toContain('files: [../compose.yaml]');
    // the project moved (cloned elsewhere on another host): the shared folders are still found
    const moved = path.join(await tempDir('modelmount-init-moved-'), 'a', 'b', 'project');
    await fs.mkdir(path.dirname(moved), { recursive: true });
    await fs.rename(dir, moved);
    const m = await loadManifest(path.join(moved, 'manifests', 'models.yaml'));
    expect(m.hostDir).toBe(hostOutside);
    expect(m.sources.map((s) => s.base)).toEqual([path.join(moved, 'published'), path.join(outside, 'ml')]);
  });
  it('--dry-run prints the manifest and writes nothing', async () => {
    const dir = await userProject();
    const r = await runCliCaptured([...FLAGS(), '--dry-run'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('  - id: student/v0_ja');
    await expect(fs.access(path.join(dir, 'manifests'))).rejects.toThrow();
  });
});

describe.skipIf(!hasScript)('init on a real terminal', () => {
  it('Ctrl+C at a question writes nothing', async () => {
    const dir = await userProject({ node: true });
    const s = onTerminal(['init'], { cwd: dir });
    await s.waitFor('Host folder for the models');
    s.type(`${ENTER}`);
    await s.waitFor('Folder that holds the artifacts');
    s.type(CTRL_C);
    await s.exit; // its status is the CLI's convention for a cancelled question
    expect(s.output()).toContain('Cancelled');
    await expect(fs.access(path.join(dir, 'manifests'))).rejects.toThrow();
    expect(await fs.readFile(path.join(dir, 'package.json'), 'utf8')).not.toContain('models:');
  }, 60_000);

  it('asks every question, then writes what was answered', async () => {
    const dir = await userProject({ node: true });
    const s = onTerminal(['init'], { cwd: dir });
    await s.waitFor('Host folder for the models');
    s.type(`vendor/models${ENTER}`);
    await s.waitFor('Folder that holds the artifacts');
    s.type(`nowhere${ENTER}`);
    await s.waitFor('nowhere is not a folder');
    s.type('\x7f'.repeat(7) + `published${ENTER}`);
    await s.waitFor('Labels for student/v0_en');
    s.type(`lang=en${ENTER}`);
    await s.waitFor('Labels for student/v0_ja');
    s.type(ENTER);
    await s.waitFor('Where are the artifacts published?');
    s.type(`ftp://x/${ENTER}`);
    await s.waitFor('unsupported url scheme');
    s.type('\x7f'.repeat(8) + `${server.url}ml/${ENTER}`);
    await s.waitFor('Your Compose files');
    s.type(ENTER); // the detected compose.yaml
    await s.waitFor('Which Compose services load the models?');
    s.type(SPACE + ENTER); // worker
    await s.waitFor('Folder in the containers');
    s.type(ENTER); // /models
    await s.waitFor("The app's own load check");
    s.type(`test -d /models${ENTER}`);
    await s.waitFor('Add the npm scripts');
    s.type(ENTER);
    await s.waitFor('Set COMPOSE_FILE=compose.yaml:compose.models.yaml in .env');
    s.type(`n${ENTER}`);
    expect(await s.exit, s.output()).toBe(0);
    expect(s.output()).toContain('Wrote manifests/models.yaml');
    const m = await loadManifest(path.join(dir, 'manifests', 'models.yaml'));
    expect(m.hostDir).toBe(path.join(dir, 'vendor', 'models'));
    expect(m.artifacts.map((a) => [a.id, a.labels])).toEqual([['student/v0_en', { lang: 'en' }], ['student/v0_ja', {}]]);
    expect(m.compose).toMatchObject({ services: ['worker'], containerDir: '/models' });
    expect(m.smoke?.command).toEqual(['sh', '-c', 'test -d /models']);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8')).scripts['models:smoke']).toBe('modelmount smoke');
    await expect(fs.access(path.join(dir, '.env'))).rejects.toThrow();
  }, 90_000);
});

describe('init → update → doctor → smoke', () => {
  const project = `mminit${testRunId}`;
  afterEach(async () => {
    await cleanupDocker({ composeProjects: [project] });
  }, 120_000);

  itDocker('in one sitting: the override is included by a plain `docker compose`, doctor is OK, the smoke test passes', async () => {
    await buildBusyboxImage(IMAGE);
    const dir = await userProject();
    const env = { COMPOSE_PROJECT_NAME: project };
    const init = await runCliCaptured([...FLAGS(), '--compose-env', '--smoke-command', 'test -s /app/models/student/v0_ja/model.bin && test -s /app/models/student/v0_en/model.bin'], { cwd: dir, env });
    expect(init.code, init.stderr).toBe(0);
    const update = await runCliCaptured(['update', '--cache-dir', path.join(dir, '.cache')], { cwd: dir, env });
    expect(update.code, update.stderr + update.stdout).toBe(0);
    expect(update.stderr + update.stdout).toMatch(/smoke command\) passed/);
    const doctor = await runCliCaptured(['doctor', '--json'], { cwd: dir, env });
    expect(doctor.code, doctor.stdout).toBe(0);
    const findings = JSON.parse(doctor.stdout).findings as { id: string; verdict: string }[];
    expect(findings.filter((f) => f.verdict !== 'ok')).toEqual([]);
    expect(findings.find((f) => f.id === 'override-not-included')?.verdict).toBe('ok');
    // a plain `docker compose config` in the project (no -f) reads the override through .env
    const engine = await detectCompose();
    const config = await sh({ cwd: dir, env: { ...process.env, ...env } })`${[...engine!.command, 'config']}`;
    expect(config.exitCode, config.stderr).toBe(0);
    expect(config.stdout).toContain('/app/models/student/v0_ja');
    const smoke = await runCliCaptured(['smoke'], { cwd: dir, env });
    expect(smoke.code, smoke.stderr + smoke.stdout).toBe(0);
  }, 300_000);

  for (const flavour of ['v2', 'v1'] as const) {
    itDocker(`with COMPOSE_FILE in .env (Compose ${flavour}): the manifest lists its files, doctor agrees, and a plain \`config\` gives the worker both the models and the other files' settings`, async () => {
      await buildBusyboxImage(IMAGE);
      const dir = await userProject();
      await fs.writeFile(path.join(dir, 'compose.prod.yaml'), 'services:\n  worker:\n    environment: {PROD: "1"}\n    mem_limit: 256m\n');
      await fs.writeFile(path.join(dir, '.env'), `COMPOSE_FILE=compose.yaml${path.delimiter}compose.prod.yaml\n`);
      const env = { COMPOSE_PROJECT_NAME: project, ...(flavour === 'v1' ? { MODELS_COMPOSE: 'docker-compose' } : {}) };
      const init = await runCliCaptured([...FLAGS(), '--yes', '--compose-env'], { cwd: dir, env });
      expect(init.code, init.stderr).toBe(0);
      const update = await runCliCaptured(['update', '--yes', '--no-smoke', '--cache-dir', path.join(dir, '.cache')], { cwd: dir, env });
      expect(update.code, update.stderr + update.stdout).toBe(0);
      const doctor = await runCliCaptured(['doctor', '--json'], { cwd: dir, env });
      const findings = JSON.parse(doctor.stdout).findings as { id: string; verdict: string }[];
      expect(findings.filter((f) => f.verdict !== 'ok')).toEqual([]);
      expect(findings.find((f) => f.id === 'compose-file-mismatch')?.verdict).toBe('ok');
      const config = await sh({ cwd: dir, env: { ...process.env, ...env } })`${[...(flavour === 'v1' ? ['docker-compose'] : ['docker', 'compose']), 'config']}`;
      expect(config.exitCode, config.stderr).toBe(0);
      expect(config.stdout).toContain('/app/models/student/v0_ja');
      expect(config.stdout).toMatch(/PROD: ['"]1['"]/);
    }, 300_000);
  }

  itDocker('a service that only a Compose profile enables (profiles: [ml]) is checked, smoke-tested and passes doctor, in the default profile too', async () => {
    await buildBusyboxImage(IMAGE);
    const dir = await userProject();
    // worker also on its own network: smoke then runs a copy of the merged config, which must hold it too
    await fs.writeFile(path.join(dir, 'compose.yaml'), `services:\n  worker:\n    image: ${IMAGE}\n    command: ["sleep", "1"]\n    profiles: [ml]\n    networks: [back]\n  db:\n    image: ${IMAGE}\nnetworks:\n  back: {}\n`);
    const env = { COMPOSE_PROJECT_NAME: project };
    const init = await runCliCaptured([...FLAGS(), '--smoke-command', 'test -s /app/models/student/v0_ja/model.bin'], { cwd: dir, env });
    expect(init.code, init.stderr).toBe(0);
    const update = await runCliCaptured(['update', '--cache-dir', path.join(dir, '.cache')], { cwd: dir, env });
    expect(update.code, update.stderr + update.stdout).toBe(0);
    expect(update.stderr + update.stdout).toMatch(/smoke command\) passed/);
    const doctor = await runCliCaptured(['doctor', '--json'], { cwd: dir, env });
    const findings = JSON.parse(doctor.stdout).findings as { id: string; verdict: string; message: string }[];
    expect(findings.filter((f) => f.verdict === 'error')).toEqual([]);
    expect(doctor.code, doctor.stdout).toBe(0);
  }, 300_000);
});

describe('a project folder whose path holds `$`', () => {
  const project = `mmdollar${testRunId}`;
  afterEach(async () => {
    await cleanupDocker({ composeProjects: [project] });
  }, 120_000);

  for (const flavour of ['v2', 'v1'] as const) {
    itDocker(`Compose ${flavour}: the override escapes it, so update, compose and doctor see the real host folder`, async () => {
      await buildBusyboxImage(IMAGE);
      const dir = path.join(await userProject(), 'reva$nine');
      await fs.mkdir(dir);
      await fs.rename(path.join(dir, '..', 'published'), path.join(dir, 'published'));
      // worker on its own network: smoke runs a copy of the merged config, whose paths must not be escaped twice
      await fs.writeFile(path.join(dir, 'compose.yaml'), `services:\n  worker:\n    image: ${IMAGE}\n    command: ["sleep", "1"]\n    networks: [back]\n  db:\n    image: ${IMAGE}\nnetworks:\n  back: {}\n`);
      const env = { COMPOSE_PROJECT_NAME: project, nine: 'WRONG', ...(flavour === 'v1' ? { MODELS_COMPOSE: 'docker-compose' } : {}) };
      const init = await runCliCaptured([...FLAGS(), '--smoke-command', 'test -s /app/models/student/v0_ja/model.bin'], { cwd: dir, env });
      expect(init.code, init.stderr).toBe(0);
      const update = await runCliCaptured(['update', '--cache-dir', path.join(dir, '.cache')], { cwd: dir, env });
      expect(update.code, update.stderr + update.stdout).toBe(0);
      expect(update.stderr + update.stdout).toMatch(/smoke command\) passed/);
      expect(update.stderr + update.stdout).toContain('running a copy of the merged config');
      const compose = await runCliCaptured(['compose'], { cwd: dir, env });
      expect(compose.code, compose.stderr + compose.stdout).toBe(0);
      const doctor = await runCliCaptured(['doctor', '--json'], { cwd: dir, env });
      const findings = JSON.parse(doctor.stdout).findings as { id: string; verdict: string; message: string }[];
      expect(findings.filter((f) => f.verdict === 'error')).toEqual([]);
      expect(doctor.code, doctor.stdout).toBe(0);
    }, 300_000);
  }
});
