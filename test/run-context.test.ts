/**
 * What a run starts from (lib/run-context.ts): a command that never uses the store (verify, doctor,
 * compose, smoke, apply, rollback, the fleet commands) never resolves or checks one, so a store
 * folder it cannot use cannot fail it; the commands that use the store still refuse it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadRunContext } from '../lib/run-context.ts';
import { cliEnv } from './helpers/cli.ts';
import { oneArtifactProject } from './helpers/one-artifact-project.ts';
import { runBin } from './helpers/real-cli.ts';

/** The one-artifact project, installed, whose manifest then names as its store a symlink into the host folder (EFOLDER). */
async function installedWithBadStore(): Promise<Awaited<ReturnType<typeof oneArtifactProject>>> {
  const p = await oneArtifactProject();
  const install = await runBin(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke'], { cwd: p.dir, env: cliEnv() });
  expect(install.code, install.stderr).toBe(0);
  await fs.symlink(p.hostDir, path.join(p.dir, 'store-link'));
  await fs.writeFile(p.manifest, (await fs.readFile(p.manifest, 'utf8')).replace(/^cacheDir: .*$/m, 'cacheDir: store-link'));
  return p;
}

describe('a store folder the commands that never use it cannot use', () => {
  it('the real CLI: verify, compose and doctor run as before; update refuses it, naming the manifest\'s cacheDir (EFOLDER, exit 2)', async () => {
    const p = await installedWithBadStore();
    const run = (args: string[]) => runBin([...args, '--manifest', p.manifest, '--json'], { cwd: p.dir, env: cliEnv() });
    for (const args of [['verify'], ['compose'], ['doctor']]) {
      const r = await run(args);
      expect(r.code, `${args[0]}: ${r.stdout}${r.stderr}`).toBe(0);
      expect((JSON.parse(r.stdout) as { ok: boolean }).ok, args[0]).toBe(true);
    }
    const update = await run(['update', '--yes', '--no-compose', '--no-smoke']);
    expect(update.code, update.stderr).toBe(2);
    const { error } = JSON.parse(update.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('EFOLDER');
    expect(error.message).toMatch(/^cacheDir .* overlaps hostDir/);
    expect(error.message).toContain(`${path.join(p.dir, 'store-link')} leads there through a symlink`);
  }, 180_000);

  it("the run context of such a command keeps the manifest's own cacheDir (a Swarm node's store), not this machine's default store", async () => {
    const p = await oneArtifactProject();
    await fs.writeFile(p.manifest, (await fs.readFile(p.manifest, 'utf8')).replace(/^cacheDir: .*\n/m, ''));
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: cliEnv(), cwd: p.dir, isTTY: false };
    expect((await loadRunContext({ manifest: p.manifest }, io, undefined, 'host')).manifest.cacheDir).toBeUndefined();
    await fs.writeFile(p.manifest, `${await fs.readFile(p.manifest, 'utf8')}cacheDir: /srv/store\n`);
    expect((await loadRunContext({ manifest: p.manifest }, io, undefined, 'host')).manifest.cacheDir).toBe('/srv/store');
  });
});
