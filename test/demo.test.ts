/**
 * `npm run demo`, the README's first command, end to end as a real process: the outage
 * reproduced by doctor, fixed by update (with the smoke test when Docker is here), a no-op
 * second run, verify. Demo images it builds are removed again unless they were already there.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerStatus } from './helpers/docker.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IMAGES = ['modelmount-demo-ml-worker:latest', 'modelmount-demo-busybox:latest'];
const docker = dockerStatus().reachable;
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
    expect(out).toMatch(/✖ dockerignore-excludes-artifacts: student\/v0_ja is excluded by \.dockerignore AND not mounted/);
    expect(out).toContain('(doctor exit status 7');
    expect(out).toMatch(/OK: 5 files installed, 0 unchanged, 0 failed; 44\.3 MiB transferred/);
    expect(out).toMatch(/Wrote .*demo\/compose\.models\.yaml/);
    if (docker) expect(out).toContain('✔ ml-worker: step 1 (files in the container) passed, step 2 (smoke command) passed');
    expect(out).toMatch(/OK: 0 files installed, 5 unchanged, 0 failed; 0 B transferred/);
    expect(out).toContain('(0 HTTP requests)');
    expect(out).toMatch(/OK: 0 errors, \d+ warnings?\./);
    expect(out).toMatch(/OK: 5\/5 files verified/);
  }, 300_000);
});
