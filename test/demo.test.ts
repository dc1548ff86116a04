/**
 * `npm run demo`, the README's first command, end to end as a real process: the outage
 * reproduced by doctor, fixed by update (with the smoke test when Docker is here), a no-op
 * second run, verify, then the release story (a second version of student/v0_ja: update --apply,
 * rollback --apply back to the first set). Demo images it builds are removed again unless they were already there.
 * Without Compose (a newcomer's laptop) doctor cannot ask Compose what it mounts: the demo still
 * shows the outage (missing host folders, override, require rule) and says what it skipped.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCompose } from '../lib/compose/engine.ts';
import { loadManifest } from '../lib/manifest/load.ts';
import { artifactDigest, releaseSetOf } from '../lib/releases/record.ts';
import { dockerStatus, requireDocker } from './helpers/docker.ts';
import { registryMissing, REQUIRE_OCI_ENV } from './helpers/registry.ts';
import { sha256File } from '../lib/verify/hash.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IMAGES = ['modelmount-demo-ml-worker:latest', 'modelmount-demo-busybox:latest'];
const docker = dockerStatus().reachable;
const compose = await detectCompose();
const present = (tag: string) => docker && spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
const before = new Map(IMAGES.map((t) => [t, present(t)]));

afterAll(() => {
  for (const t of IMAGES) if (!before.get(t) && present(t)) spawnSync('docker', ['rmi', '-f', t], { stdio: 'ignore' });
});

async function runDemo(env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'modelmount.mjs'), 'demo'], { cwd: ROOT, env: { ...env, CI: 'true' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
  return { code, out };
}

/**
 * The release story at the end: a new release of student/v0_ja next to the first, the override
 * mounting release folders, and after rollback exactly the first set (computed from manifests/demo.yaml).
 */
async function expectReleaseStory(out: string, withDocker: boolean): Promise<void> {
  const manifest = await loadManifest(path.join(ROOT, 'manifests', 'demo.yaml'));
  const first = releaseSetOf(manifest.artifacts.filter((a) => !a.optional), 'x').digest;
  const ja = manifest.artifacts.find((a) => a.id === 'student/v0_ja')!;
  const firstJa = artifactDigest(ja.files);
  expect(out).toContain(`New release set ${first.slice(0, 12)}: every release was already there.`);
  const made = out.match(/New release set ([0-9a-f]{12}) \(was ([0-9a-f]{12})\): made student\/v0_ja\./);
  expect(made, out).toBeTruthy();
  expect(made![2]).toBe(first.slice(0, 12));
  expect(out).toContain(`Release set ${first.slice(0, 12)} is current again (was ${made![1]})`);
  // two immutable releases of student/v0_ja side by side: the first and the new one
  const releases = path.join(manifest.hostDir, '.modelmount', 'releases', 'student', 'v0_ja');
  const kept = fs.readdirSync(releases).sort();
  expect(kept).toHaveLength(2);
  expect(kept).toContain(firstJa);
  // the override mounts the first set's release folder again, labelled with its digest
  const override = fs.readFileSync(manifest.compose!.override, 'utf8');
  expect(override).toContain(`io.modelmount.set: ${first}`);
  expect(override).toContain(`source: ${path.join(releases, firstJa)}\n`);
  // the plain folder holds the first version's files again; manifests/demo.yaml was never edited
  expect(fs.readFileSync(path.join(manifest.hostDir, 'student', 'v0_ja', 'config.json'), 'utf8')).toContain('"artifact": "student/v0_ja"\n');
  expect(spawnSync('git', ['diff', '--quiet', '--', 'manifests/demo.yaml'], { cwd: ROOT }).status).toBe(0);
  if (withDocker) {
    expect(out).toMatch(new RegExp(`OK: release set ${made![1]}; recreated ml-worker\\.`));
    expect(out).toContain(`OK: release set ${first.slice(0, 12)}; recreated ml-worker.`);
    expect(out.match(/step 2 \(smoke command\) passed/g)).toHaveLength(3);
    expect(out).toContain('Stopping the demo worker (compose down)');
  } else {
    expect(out).toMatch(/\(no worker started and no --apply: .+\)/);
    expect(out).not.toContain('recreated ml-worker');
  }
}

/**
 * The registry story at the very end: with docker-registry installed, the demo set is published to a
 * local registry and installed from it alone (pinned by digest) into .demo/oci-artifacts, byte for byte
 * what manifests/demo.yaml names; without it, the demo says what it skipped and what to install.
 */
async function expectRegistryStory(out: string, withRegistry: boolean): Promise<void> {
  if (!withRegistry) {
    expect(out).toContain('(skipped: docker-registry is not installed (apt-get install docker-registry))');
    return;
  }
  expect(out).toMatch(/OK: published student\/v0_ja, student\/v0_en \(5 files, 44\.3 MiB uploaded\) to oci:\/\/127\.0\.0\.1:\d+\/demo\/models:v1/);
  const pinned = out.match(/url: (oci:\/\/127\.0\.0\.1:\d+\/demo\/models@sha256:[0-9a-f]{64})/)![1]!;
  expect(out).toContain(`Sources, in order: demo-registry (${pinned})`);
  expect(out).toContain('✔ Installed student/v0_ja (3 files, 24.3 MiB from demo-registry)');
  expect(out).toContain('✔ Installed student/v0_en (2 files, 20.0 MiB from demo-registry)');
  expect(out).toMatch(/OK: 5\/5 files verified \(44\.3 MiB; 5 hashed, 0 from the state cache\)/);
  const manifest = await loadManifest(path.join(ROOT, 'manifests', 'demo.yaml'));
  for (const a of manifest.artifacts.filter((x) => !x.optional)) {
    for (const f of a.files) expect(await sha256File(path.join(ROOT, '.demo', 'oci-artifacts', a.id, f.path))).toBe(f.sha256);
  }
}

describe('npm run demo', () => {
  it('reproduces the outage, fixes it, verifies, then updates to a new release and rolls back', async () => {
    const { code, out } = await runDemo(process.env);
    expect(code, out).toBe(0);
    if (requireDocker()) expect(docker && compose, `Docker (${dockerStatus().detail}) and Compose are required here`).toBeTruthy();
    if (compose) {
      expect(out).toMatch(/✖ dockerignore-excludes-artifacts: student\/v0_ja is excluded by \.dockerignore AND not mounted/);
      expect(out).toMatch(/Wrote .*demo\/compose\.models\.yaml/);
      expect(out).not.toMatch(/[⚠✖] compose-engine-missing/);
    } else {
      // no Compose: the merged-config checks are skipped and said so; what needs no Compose still finds the outage
      expect(out).toMatch(/⚠ compose-engine-missing: No Compose found: the merged-config checks were skipped/);
      expect(out).toMatch(/⚠ dockerignore-excludes-artifacts: student\/v0_ja is excluded from the image; whether a mount provides it was not checked/);
      expect(out).toMatch(/✖ mount-source-missing: student\/v0_ja is not on the host/);
      expect(out).toMatch(/✖ override-missing: The Compose override does not exist/);
      expect(out).toMatch(/Wrote .*demo\/compose\.models\.yaml \(merged config not validated: neither `docker compose` \(v2\) nor `docker-compose` \(v1\) is installed\)/);
    }
    expect(out).toMatch(/✖ require-violated: None of student\/v0_ja, student\/v0_en is installed/);
    expect(out).toContain('(doctor exit status 7');
    expect(out).toMatch(/OK: 5 files installed, 0 unchanged, 0 failed; 44\.3 MiB transferred/);
    if (docker && compose) expect(out).toContain('✔ ml-worker: step 1 (files in the container) passed, step 2 (smoke command) passed');
    else expect(out).toMatch(/\(smoke test skipped: .+\)/);
    expect(out).toMatch(/OK: 0 files installed, 5 unchanged, 0 failed; 0 B transferred/);
    expect(out).toContain('(0 HTTP requests)');
    expect(out).toMatch(/OK: 0 errors, \d+ warnings?\./);
    expect(out).toMatch(/OK: 5\/5 files verified/);
    await expectReleaseStory(out, Boolean(docker && compose && !/\(smoke test skipped/.test(out)));
    if (process.env[REQUIRE_OCI_ENV] === '1') expect(registryMissing(), 'docker-registry is required here').toBeUndefined();
    await expectRegistryStory(out, registryMissing() === undefined);
  }, 300_000);

  it('without Docker or Compose on PATH, still shows the release story and says what it skipped', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-demo-nopath-'));
    try {
      const { code, out } = await runDemo({ ...process.env, PATH: empty });
      expect(code, out).toBe(0);
      expect(out).toMatch(/\(smoke test skipped: .+\)/);
      await expectReleaseStory(out, false);
      await expectRegistryStory(out, false);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  }, 300_000);
});
