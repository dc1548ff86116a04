/**
 * The standalone `compose` command takes the host folder's run lock, as update does: it reads the
 * install record and writes the override, so it must not interleave with an update (or gc) of the
 * same host folder. --no-wait fails at once with exit 6; by default it waits and says for whom.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { manifestYaml, runCliCaptured, tempDir, tempProject, writeSourceTree, type TestArtifact } from './helpers/cli.ts';
import { holdRunLock, runWatchingStderr } from './helpers/lock-holder.ts';

const ART: TestArtifact[] = [{ id: 'student/v0_ja', env: 'STUDENT_JA_DIR', files: [{ path: 'model.bin', data: Buffer.from('weights\n') }] }];
const COMPOSE = ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /app/models'].join('\n');

describe('compose under the lock', () => {
  it('--no-wait exits 6 while another run holds the host folder; by default it waits, then writes the override', async () => {
    const src = await tempDir();
    await writeSourceTree(src, ART);
    const p = await tempProject(manifestYaml({ artifacts: ART, sources: [{ name: 'folder', url: src }], extra: COMPOSE }));
    await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke'])).code).toBe(0);
    const override = path.join(p.dir, 'compose.models.yaml');
    await expect(fs.stat(override)).rejects.toThrow();

    const lock = await holdRunLock([p.hostDir], 'modelmount update');
    const failed = await runCliCaptured(['compose', '--manifest', p.manifest, '--no-wait']);
    expect(failed.code, failed.stderr).toBe(ExitCode.lock);
    expect(failed.stderr).toContain('(modelmount update)');
    await expect(fs.stat(override)).rejects.toThrow();

    const waiting = runWatchingStderr(['compose', '--manifest', p.manifest], { PATH: process.env.PATH, CI: 'true' });
    await waiting.waiting;
    // nothing written while the other run holds the folder
    await expect(fs.stat(override)).rejects.toThrow();
    await lock.release();
    expect(await waiting.done, waiting.stderr()).toBe(0);
    expect(await fs.readFile(override, 'utf8')).toContain('student/v0_ja');
  });
});
