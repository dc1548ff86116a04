/**
 * The hint of a stall (ESTALLED, exit 5) names only an option of the command that prints it: a
 * stalled host folder names --host-dir, a stalled store --cache-dir (doctor, compose, verify… have
 * no --cache-dir). A look at a hung mount is made with a spy that never answers for one path.
 */
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { storeStatePath } from '../lib/layout.ts';
import { STALL_DEFAULTS } from '../lib/stall.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';
import { runCliCaptured } from './helpers/cli.ts';
import { oneArtifactProject } from './helpers/one-artifact-project.ts';

afterEach(endHungLooks);

/** Run the CLI until it looks at the hung path, then let the stall bound pass. */
async function runPastTheStall(argv: string[], hung: { called: () => boolean }): Promise<{ code: number; stderr: string }> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  const run = runCliCaptured(argv);
  await untilAsked(hung, run);
  await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
  return run;
}

describe('the hint of a stall names only the printing command\'s options', () => {
  it('doctor, on a stalled host folder: --host-dir, no --cache-dir (doctor has none)', async () => {
    const p = await oneArtifactProject();
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose'])).code).toBe(0);
    const r = await runPastTheStall(['doctor', '--manifest', p.manifest], hangFs('lstat', p.hostDir));
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(`Checking the files in ${p.hostDir} stalled`);
    expect(r.stderr).toContain("or point --host-dir (or the manifest's hostDir) elsewhere");
    expect(r.stderr).not.toContain('--cache-dir');
  });

  it("compose, on a stalled override file (the Compose project's folder): no folder option", async () => {
    const p = await oneArtifactProject();
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose'])).code).toBe(0);
    const override = path.join(p.dir, 'compose.models.yaml');
    const r = await runPastTheStall(['compose', '--manifest', p.manifest], hangFs('lstat', override));
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(`Reading ${override} stalled`);
    expect(r.stderr).not.toContain('--host-dir');
    expect(r.stderr).not.toContain('--cache-dir');
  });

  it('update, on a stalled store: --cache-dir, no --host-dir', async () => {
    const p = await oneArtifactProject();
    const r = await runPastTheStall(['update', '--manifest', p.manifest, '--yes', '--no-compose'], hangFs('open', storeStatePath(p.cacheDir)));
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(`Reading ${storeStatePath(p.cacheDir)} stalled`);
    expect(r.stderr).toContain("or point --cache-dir (or the manifest's cacheDir) elsewhere");
    expect(r.stderr).not.toContain('--host-dir');
  });
});
