/**
 * The package as a team installs it: `npm pack`, then the tarball in a fresh Python project (no
 * package.json) through `npx --package <tgz> modelmount …`, and in a Node project as a dev
 * dependency through its `models:*` npm scripts. Both run init, update, doctor and (with Docker)
 * smoke end to end against a loopback HTTP source, and their hints name the command as it was run. Dependencies come from the local npm cache
 * (--prefer-offline), else the npm registry.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ as zx$ } from 'zx';
import { listFiles, serverFiles, tempDir, writeSourceTree, type TestArtifact } from './helpers/cli.ts';
import { buildBusyboxImage, cleanupDocker, dockerStatus, REQUIRE_DOCKER_ENV, requireDocker, testRunId } from './helpers/docker.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IMAGE = `modelmount-test-package:${testRunId}`;
const PROJECT = `mmpkg${testRunId}`;

const artifacts: TestArtifact[] = [
  { id: 'student/v0_ja', files: [{ path: 'model.bin', data: Buffer.from('ja weights\n') }, { path: 'tok/vocab.txt', data: Buffer.from('a\nb\n') }] },
  { id: 'teacher/v0', files: [{ path: 'model.bin', data: Buffer.from('teacher weights\n') }] },
];

/** npm and the bin without this test run's own npm environment (npm test sets npm_* variables). */
function childEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
  return {
    ...env,
    CI: 'true',
    COMPOSE_PROJECT_NAME: PROJECT,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
}

/** Asynchronously: the loopback server answers from this process. */
async function ok(cmd: string, args: string[], cwd: string): Promise<string> {
  const r = await zx$({ cwd, env: childEnv(), quiet: true, nothrow: true, timeout: '300s' })`${cmd} ${args}`;
  const out = `$ ${cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}`;
  expect(r.exitCode, out).toBe(0);
  return out;
}

let server: FaultServer;
let tgz: string;
const docker = dockerStatus().reachable;

beforeAll(async () => {
  server = await startFaultServer({ files: serverFiles(artifacts, '/ml/') });
  const dest = await tempDir('modelmount-pack-');
  const r = spawnSync('npm', ['pack', '--json', '--pack-destination', dest], { cwd: ROOT, env: childEnv(), encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`npm pack failed:\n${r.stderr}`);
  const json = r.stdout.slice(r.stdout.indexOf('[')); // `prepare` prints the build's line first
  tgz = path.join(dest, (JSON.parse(json) as { filename: string }[])[0]!.filename);
  if (docker) await buildBusyboxImage(IMAGE);
}, 300_000);

afterAll(async () => {
  await server.close();
  await cleanupDocker({ composeProjects: [PROJECT] });
  // npx installs `--package <tgz>` into the npm cache's _npx folder: remove this run's
  const npx = path.join(os.homedir(), '.npm', '_npx');
  for (const d of await fs.readdir(npx).catch(() => [])) {
    const pkg = await fs.readFile(path.join(npx, d, 'package.json'), 'utf8').catch(() => '');
    if (tgz && pkg.includes(path.basename(path.dirname(tgz)))) await fs.rm(path.join(npx, d), { recursive: true, force: true });
  }
}, 120_000);

/** A user's project: the published artifacts in ./published and a compose.yaml. */
async function userProject(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('modelmount-user-');
  for (const [name, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), text);
  }
  await writeSourceTree(path.join(dir, 'published'), artifacts);
  await fs.writeFile(path.join(dir, 'compose.yaml'), `services:\n  worker:\n    image: ${IMAGE}\n`);
  return dir;
}

function initFlags(): string[] {
  return [
    '--from', 'published', '--sources', `${server.url}ml/`, '--container-dir', '/app/models', '--compose-env',
    '--smoke-command', 'test -s /app/models/student/v0_ja/model.bin && test -s /app/models/teacher/v0/model.bin',
  ];
}

function skipSmokeUnlessDocker(): boolean {
  if (docker) return false;
  if (requireDocker()) throw new Error(`Docker engine not reachable (${dockerStatus().detail}) and ${REQUIRE_DOCKER_ENV}=1: start dockerd to run the smoke test.`);
  console.warn(`Docker engine not reachable: the installed package's smoke test is skipped (${dockerStatus().detail})`);
  return true;
}

describe('the packed tarball', () => {
  it('holds the built bin and nothing of the sources', async () => {
    const dir = await tempDir('modelmount-unpack-');
    await ok('tar', ['-xzf', tgz, '-C', dir], dir);
    expect(await listFiles(path.join(dir, 'package'))).toEqual(['README.md', 'bin/modelmount.mjs', 'bin/start.mjs', 'dist/cli/hash-worker.mjs', 'dist/cli/modelmount-main.js', 'dist/cli/modelmount.mjs', 'dist/cli/stat-worker.mjs', 'package.json']);
    const pkg = JSON.parse(await fs.readFile(path.join(dir, 'package', 'package.json'), 'utf8'));
    expect(pkg.private).toBeUndefined();
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@aws-sdk/client-s3', '@aws-sdk/credential-providers', '@inquirer/prompts', 'got', 'zx']);
    expect(pkg.devDependencies.esbuild).toBeDefined();
    expect(pkg.devDependencies.tsx).toBeDefined();
  });

  it('in a Python project (no package.json): npx --package <tgz> modelmount init, update, doctor, smoke', async () => {
    const dir = await userProject({ 'pyproject.toml': '[project]\nname = "worker"\nversion = "0.1.0"\n', 'app/check_models.py': 'print("ok")\n' });
    const npx = (...args: string[]) => ok('npx', ['--yes', '--package', tgz, 'modelmount', ...args], dir);
    expect(await npx('--version')).toContain('0.1.0');
    await npx('init', ...initFlags());
    expect(existsSync(path.join(dir, 'package.json'))).toBe(false);
    // hints name the command as it was run
    expect(await npx('status', '--no-docker')).toContain('→ run `npx modelmount update` to install or repair student/v0_ja, teacher/v0.');
    const update = await npx('update', '--cache-dir', path.join(dir, '.cache'), ...(docker ? [] : ['--no-smoke']));
    expect(update).toContain('student/v0_ja');
    expect(await fs.readFile(path.join(dir, 'models', 'teacher', 'v0', 'model.bin'), 'utf8')).toBe('teacher weights\n');
    await npx('doctor');
    await npx('verify', '--full');
    if (skipSmokeUnlessDocker()) return;
    expect(update).toMatch(/smoke command\) passed/);
    expect(await fs.readFile(path.join(dir, 'compose.models.yaml'), 'utf8')).toContain('Do not edit: regenerate with `npx modelmount compose`.');
    await npx('smoke');
  }, 600_000);

  it('in a Node project as a dev dependency: its models:* npm scripts run init, update, doctor, smoke', async () => {
    const dir = await userProject({ 'package.json': '{\n  "name": "app",\n  "version": "1.0.0",\n  "private": true\n}\n' });
    await ok('npm', ['install', '--save-dev', '--no-audit', '--no-fund', tgz], dir);
    const pkg = JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.devDependencies)).toEqual(['modelmount']);
    // built once when packed: nothing to build or compile at install or run time
    for (const absent of ['esbuild', 'tsx', 'typescript', 'modelmount/lib', 'modelmount/scripts']) expect(existsSync(path.join(dir, 'node_modules', absent)), absent).toBe(false);
    await ok('npx', ['modelmount', 'init', '--npm-scripts', ...initFlags()], dir);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8')).scripts['models:update']).toBe('modelmount update');
    expect(await ok('npm', ['run', 'models:status', '--', '--no-docker'], dir)).toContain('→ run `npm run models:update` to install or repair student/v0_ja, teacher/v0.');
    const update = await ok('npm', ['run', 'models:update', '--', '--cache-dir', path.join(dir, '.cache'), ...(docker ? [] : ['--no-smoke'])], dir);
    expect(await fs.readFile(path.join(dir, 'models', 'student', 'v0_ja', 'model.bin'), 'utf8')).toBe('ja weights\n');
    await ok('npm', ['run', 'models:doctor'], dir);
    await ok('npm', ['run', 'models:verify'], dir);
    if (skipSmokeUnlessDocker()) return;
    expect(update).toMatch(/smoke command\) passed/);
    expect(await fs.readFile(path.join(dir, 'compose.models.yaml'), 'utf8')).toContain('Do not edit: regenerate with `npm run models:compose`.');
    await ok('npm', ['run', 'models:smoke'], dir);
  }, 600_000);
});
