/** Run the real CLI in-process with captured output, and build temp projects with small artifact sets. */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../lib/cli/run-cli.ts';
import { commands } from '../../lib/commands/index.ts';
import type { Io } from '../../lib/io.ts';
import type { Clock } from '../../lib/clock.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Variables that pick the Docker engine and Compose: a CI pass sets them for the whole suite (e.g. MODELS_COMPOSE=docker-compose). */
const ENGINE_ENV = ['DOCKER_HOST', 'DOCKER_CONFIG', 'DOCKER_CONTEXT', 'MODELS_COMPOSE'] as const;

/** The environment of a CLI run under test: PATH, HOME, CI=true, the engine-picking variables of this run, then `extra`. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const engine = Object.fromEntries(ENGINE_ENV.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
  return { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true', ...engine, ...extra };
}

export async function runCliCaptured(
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; isTTY?: boolean; signal?: AbortSignal; clock?: Clock } = {},
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const io: Io = {
    stdout,
    stderr,
    env: cliEnv(opts.env),
    cwd: opts.cwd ?? process.cwd(),
    isTTY: opts.isTTY ?? false,
    ...(opts.clock ? { clock: opts.clock } : {}),
  };
  const code = await runCli(argv, io, commands, opts.signal ?? new AbortController().signal);
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

export async function tempDir(prefix = 'modelmount-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export interface TestArtifactFile {
  path: string;
  data: Buffer;
}

export interface TestArtifact {
  id: string;
  files: TestArtifactFile[];
  labels?: Record<string, string>;
  optional?: boolean;
  env?: string;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Two students and an optional teacher with random bytes of the given sizes. */
export function sampleArtifacts(sizes = { ja: 300_000, en: 200_000, teacher: 100_000 }): TestArtifact[] {
  return [
    {
      id: 'student/v0_ja',
      labels: { role: 'student', lang: 'ja' },
      env: 'LEARNING_MACHINE_STUDENT_JA_DIR',
      files: [
        { path: 'model.safetensors', data: randomBytes(sizes.ja) },
        { path: 'config.json', data: Buffer.from('{"lang":"ja"}\n') },
      ],
    },
    {
      id: 'student/v0_en',
      labels: { role: 'student', lang: 'en' },
      env: 'LEARNING_MACHINE_STUDENT_EN_DIR',
      files: [{ path: 'model.safetensors', data: randomBytes(sizes.en) }],
    },
    { id: 'teacher/v0', labels: { role: 'teacher' }, optional: true, files: [{ path: 'model.safetensors', data: randomBytes(sizes.teacher) }] },
  ];
}

/** Map of server path ("student/v0_ja/model.safetensors") → bytes, for startFaultServer. */
export function serverFiles(artifacts: TestArtifact[], prefix = '/'): Record<string, Buffer> {
  return Object.fromEntries(artifacts.flatMap((a) => a.files.map((f) => [`${prefix}${a.id}/${f.path}`, f.data])));
}

/** Write the artifacts as a file source tree under `root`. */
export async function writeSourceTree(root: string, artifacts: TestArtifact[]): Promise<void> {
  for (const a of artifacts) {
    for (const f of a.files) {
      const p = path.join(root, a.id, f.path);
      await fs.mkdir(path.dirname(p), { recursive: true });
      await fs.writeFile(p, f.data);
    }
  }
}

export function manifestYaml(opts: {
  artifacts: TestArtifact[];
  sources: { name: string; url: string; tokenEnv?: string }[];
  hostDir?: string;
  cacheDir?: string;
  require?: string[][];
  extra?: string;
}): string {
  const lines = [
    'version: 1',
    `hostDir: ${opts.hostDir ?? 'host'}`,
    `cacheDir: ${opts.cacheDir ?? 'cache'}`,
    'sources:',
    ...opts.sources.flatMap((s) => [`  - name: ${s.name}`, `    url: "${s.url}"`, ...(s.tokenEnv ? [`    tokenEnv: ${s.tokenEnv}`] : [])]),
    ...(opts.require?.length ? ['require:', ...opts.require.map((r) => `  - anyOf: [${r.join(', ')}]`)] : []),
    'artifacts:',
    ...opts.artifacts.flatMap((a) => [
      `  - id: ${a.id}`,
      ...(a.labels ? [`    labels: {${Object.entries(a.labels).map(([k, v]) => `${k}: ${v}`).join(', ')}}`] : []),
      ...(a.optional ? ['    optional: true'] : []),
      ...(a.env ? [`    env: ${a.env}`] : []),
      '    files:',
      ...a.files.map((f) => `      - {path: ${f.path}, size: ${f.data.length}, sha256: ${sha256(f.data)}}`),
    ]),
    ...(opts.extra ? [opts.extra] : []),
    '',
  ];
  return lines.join('\n');
}

/** A temp project: manifest at <dir>/manifest.yaml, host folder <dir>/host, store <dir>/cache. */
export async function tempProject(yaml: string): Promise<{ dir: string; manifest: string; hostDir: string; cacheDir: string }> {
  const dir = await tempDir();
  const manifest = path.join(dir, 'manifest.yaml');
  await fs.writeFile(manifest, yaml);
  return { dir, manifest, hostDir: path.join(dir, 'host'), cacheDir: path.join(dir, 'cache') };
}

/** Every file below `dir`, relative, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dir, p));
    }
  }
  await walk(dir);
  return out.sort();
}
