/**
 * A throwaway project for the compose/doctor tests: a manifest object (built
 * directly, so these tests do not depend on the manifest loader), a base
 * Compose file, a `.dockerignore`, and installed artifact folders with the
 * right bytes.
 *
 *   <root>/manifests/models.yaml        (text only: doctor reads `require` lines from it)
 *   <root>/compose/services.yaml
 *   <root>/compose/models.override.yaml (written by the code under test)
 *   <root>/.dockerignore
 *   <root>/learning_machine/artifacts/<id>/<file>   (hostDir)
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeInstallRecord } from '../../lib/install-record.ts';
import { artifactDir, hostFilePath } from '../../lib/layout.ts';
import type { Artifact, Manifest } from '../../lib/manifest/schema.ts';

export const CONTAINER_DIR = '/app/learning_machine/artifacts';

export interface FixtureArtifact {
  id: string;
  env?: string;
  files: Record<string, string>;
}

export const DEFAULT_ARTIFACTS: FixtureArtifact[] = [
  { id: 'student/v0_ja', env: 'LEARNING_MACHINE_STUDENT_JA_DIR', files: { 'model.bin': 'ja weights\n', 'tokenizer/vocab.txt': 'a\nb\n' } },
  { id: 'student/v0_en', env: 'LEARNING_MACHINE_STUDENT_EN_DIR', files: { 'model.bin': 'en weights\n' } },
];

export const BASE_COMPOSE = `services:
  ml-worker:
    build:
      context: ..
    image: modelmount-test-worker:dev
    environment:
      - APP_ENV=test
`;

export const MANIFEST_TEXT = `version: 1
hostDir: ../learning_machine/artifacts
sources:
  - name: local
    url: ../models
require:
  - anyOf: [student/v0_ja, student/v0_en]
artifacts: []
`;

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export interface Fixture {
  root: string;
  manifest: Manifest;
  artifacts: Artifact[];
  files: Record<string, Record<string, string>>;
  cleanup(): Promise<void>;
}

export async function makeFixture(opts: {
  artifacts?: FixtureArtifact[];
  baseCompose?: string;
  dockerignore?: string;
  /** install the files and installed.json (default true) */
  install?: boolean;
  services?: string[];
  overrideName?: string;
  require?: { anyOf: string[] }[];
  digest?: string;
} = {}): Promise<Fixture> {
  const root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-compose-')));
  const specs = opts.artifacts ?? DEFAULT_ARTIFACTS;
  const artifacts: Artifact[] = specs.map((s) => ({
    id: s.id,
    labels: {},
    optional: false,
    ...(s.env ? { env: s.env } : {}),
    files: Object.entries(s.files)
      .map(([p, content]) => ({ path: p, size: Buffer.byteLength(content), sha256: sha256(content) }))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
  }));
  const hostDir = path.join(root, 'learning_machine', 'artifacts');
  const manifest: Manifest = {
    path: path.join(root, 'manifests', 'models.yaml'),
    dir: path.join(root, 'manifests'),
    digest: opts.digest ?? sha256(JSON.stringify(artifacts)),
    version: 1,
    hostDir,
    sources: [{ name: 'local', kind: 'file', base: path.join(root, 'models') }],
    require: opts.require ?? [{ anyOf: ['student/v0_ja', 'student/v0_en'] }],
    artifacts,
    compose: {
      files: [path.join(root, 'compose', 'services.yaml')],
      services: opts.services ?? ['ml-worker'],
      override: path.join(root, 'compose', opts.overrideName ?? 'models.override.yaml'),
      containerDir: CONTAINER_DIR,
      context: root,
    },
  };
  await fs.mkdir(path.join(root, 'manifests'), { recursive: true });
  await fs.mkdir(path.join(root, 'compose'), { recursive: true });
  await fs.writeFile(manifest.path, MANIFEST_TEXT);
  await fs.writeFile(manifest.compose!.files[0]!, opts.baseCompose ?? BASE_COMPOSE);
  await fs.writeFile(path.join(root, 'Dockerfile'), 'FROM scratch\n');
  if (opts.dockerignore !== undefined) await fs.writeFile(path.join(root, '.dockerignore'), opts.dockerignore);
  const files = Object.fromEntries(specs.map((s) => [s.id, s.files]));
  if (opts.install !== false) await installArtifacts(manifest, specs);
  return { root, manifest, artifacts, files, cleanup: () => fs.rm(root, { recursive: true, force: true }) };
}

/** Put the artifact files in hostDir with the right bytes and record them in installed.json. */
export async function installArtifacts(manifest: Manifest, specs: FixtureArtifact[]): Promise<void> {
  for (const s of specs) {
    await fs.mkdir(artifactDir(manifest.hostDir, s.id), { recursive: true });
    for (const [p, content] of Object.entries(s.files)) {
      const file = hostFilePath(manifest.hostDir, s.id, p);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, content);
    }
  }
  const now = new Date(0).toISOString();
  await writeInstallRecord(manifest.hostDir, {
    version: 1,
    manifestPath: manifest.path,
    manifestDigest: manifest.digest,
    updatedAt: now,
    artifacts: Object.fromEntries(
      manifest.artifacts.filter((a) => specs.some((s) => s.id === a.id)).map((a) => [a.id, { files: a.files, source: 'local', installedAt: now }]),
    ),
  });
}

/** Is a command on PATH? */
export async function hasCommand(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      await fs.access(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

export const REQUIRE_DOCKER = process.env.MODELMOUNT_REQUIRE_DOCKER === '1';
