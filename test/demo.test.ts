/**
 * `npm run demo`, the README's first command, end to end as a real process: the outage
 * reproduced by doctor, fixed by update (with the smoke test when Docker is here), a no-op
 * second run, verify. Demo images it builds are removed again unless they were already there.
 * Without Compose (a newcomer's laptop) doctor cannot ask Compose what it mounts: the demo still
 * shows the outage (missing host folders, override, require rule) and says what it skipped.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCompose } from '../lib/compose/engine.ts';
import { dockerStatus, requireDocker } from './helpers/docker.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IMAGES = ['modelmount-demo-ml-worker:latest', 'modelmount-demo-busybox:latest'];
const docker = dockerStatus().reachable;
const compose = await detectCompose();
const present = (tag: string) => docker && spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
const before = new Map(IMAGES.map((t) => [t, present(t)]));

afterAll(() => {
  for (const t of IMAGES) if (!before.get(t) && present(t)) spawnSync('docker', ['rmi', '-f', t], { stdio: 'ignore' });
});

describe('npm run demo', () => {
  it('reproduces the outage, fixes it, and verifies', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'modelmount.mjs'), 'demo'], { cwd: ROOT, env: { ...process.env, CI: 'true' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
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
  }, 300_000);
});
