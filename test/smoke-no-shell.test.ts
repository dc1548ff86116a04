/**
 * An image without `sh` (distroless, scratch, Chainguard): the built-in check (step 1) cannot run
 * in it. The smoke command (step 2), which needs no shell, still runs and alone decides; without
 * one the smoke test fails saying the image has no sh. Real Docker, Compose v2 and v1.
 */
import { imageLacksShell } from '../lib/smoke/check-step.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from './helpers/cli.ts';
import { buildBusyboxImage, cleanupDocker, itDocker, testRunId } from './helpers/docker.ts';
import { hasCommand } from './helpers/compose-fixture.ts';
import { oneArtifactProject } from './helpers/one-artifact-project.ts';

const IMAGE = `modelmount-test-nosh:${testRunId}`;
const project = `mmnosh${testRunId}`;

async function projectWithoutShell(smokeCommand?: string[]): Promise<Awaited<ReturnType<typeof oneArtifactProject>>> {
  await buildBusyboxImage(IMAGE, { shell: false });
  const p = await oneArtifactProject();
  await fs.writeFile(path.join(p.dir, 'compose.yaml'), `services:\n  worker:\n    image: ${IMAGE}\n`);
  if (smokeCommand) await fs.appendFile(p.manifest, `smoke:\n  command: ${JSON.stringify(smokeCommand)}\n`);
  return p;
}

describe('smoke in an image without sh', () => {
  afterAll(async () => {
    await cleanupDocker({ composeProjects: [project] });
  }, 120_000);

  for (const flavour of ['v2', 'v1'] as const) {
    const env = { COMPOSE_PROJECT_NAME: project, ...(flavour === 'v1' ? { MODELS_COMPOSE: 'docker-compose' } : {}) };

    itDocker(`Compose ${flavour}: step 1 is skipped with a warning and the smoke command alone decides`, async () => {
      if (flavour === 'v1' && !(await hasCommand('docker-compose'))) throw new Error('docker-compose (v1) is not installed');
      const ok = await projectWithoutShell(['/bin/busybox', 'ls', '/app/models/student/v0_ja/model.bin']);
      const update = await runCliCaptured(['update', '--manifest', ok.manifest], { cwd: ok.dir, env });
      const out = update.stderr + update.stdout;
      expect(update.code, out).toBe(0);
      expect(out).toContain('step 1 (files in the container) skipped, step 2 (smoke command) passed');
      expect(out).toMatch(/has no `sh`.*verified on the host/);

      const failing = await projectWithoutShell(['/bin/busybox', 'ls', '/app/models/student/v0_ja/nope.bin']);
      await runCliCaptured(['update', '--manifest', failing.manifest, '--no-smoke'], { cwd: failing.dir, env });
      const smoke = await runCliCaptured(['smoke', '--manifest', failing.manifest, '--json'], { cwd: failing.dir, env });
      expect(smoke.code, smoke.stdout + smoke.stderr).toBe(8);
      expect(JSON.parse(smoke.stdout).error.code).toBe('ESMOKE_COMMAND_FAILED');
    }, 300_000);

    itDocker(`Compose ${flavour}: without a smoke command it fails saying the image has no sh and how to add one`, async () => {
      if (flavour === 'v1' && !(await hasCommand('docker-compose'))) throw new Error('docker-compose (v1) is not installed');
      const p = await projectWithoutShell();
      const update = await runCliCaptured(['update', '--manifest', p.manifest, '--json'], { cwd: p.dir, env });
      expect(update.code, update.stdout + update.stderr).toBe(8);
      const err = (JSON.parse(update.stdout).errors as { code: string; message: string; hint: string }[])[0]!;
      expect(err.code).toBe('ESMOKE_NO_SHELL');
      expect(err.message).toMatch(/has no `sh`/);
      expect(err.hint).toContain('smoke:');
    }, 300_000);
  }
});

describe('imageLacksShell', () => {
  it("tells a missing sh from Docker's other start-up errors that end the same way", () => {
    expect(imageLacksShell('[FATAL tini (7)] exec sh failed: No such file or directory')).toBe(true);
    expect(imageLacksShell('OCI runtime create failed: runc create failed: exec: "sh": executable file not found in $PATH: unknown')).toBe(true);
    expect(imageLacksShell('Error: executable file `sh` not found in $PATH')).toBe(true);
    expect(imageLacksShell('/bin/sh: not found')).toBe(true);
    // a bind mount whose source is gone, a working folder that is not there: the check must not be skipped
    expect(imageLacksShell('error mounting "/srv/models/m" to rootfs at "/models/m": stat /srv/models/m: no such file or directory: unknown')).toBe(false);
    expect(imageLacksShell('OCI runtime exec failed: chdir to cwd ("/app") set in config.json failed: no such file or directory: unknown')).toBe(false);
    expect(imageLacksShell('bash: not found')).toBe(false);
  });
});
