/**
 * No home folder (HOME unset and a uid without a passwd entry, as in `docker run --user $(id -u)`
 * in CI) and no store given: a usage error naming what sets the store, never an internal error.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCliCaptured } from './helpers/cli.ts';
import { oneArtifactProject } from './helpers/one-artifact-project.ts';

/** The one-artifact project without the manifest's `cacheDir:`: the store is the per-user default. */
async function projectWithDefaultStore(): Promise<Awaited<ReturnType<typeof oneArtifactProject>>> {
  const p = await oneArtifactProject();
  await fs.writeFile(p.manifest, (await fs.readFile(p.manifest, 'utf8')).replace(/^cacheDir: .*\n/m, ''));
  return p;
}

function noPasswdEntry(): never {
  // what libuv throws for a uid without a passwd entry
  throw Object.assign(new Error('A system error occurred: uv_os_get_passwd returned ENOENT (no such file or directory)'), { code: 'ERR_SYSTEM_ERROR' });
}

describe('no home folder known', () => {
  afterEach(() => vi.restoreAllMocks());

  it('update and verify exit 2 saying so; each hint names only what that command reads', async () => {
    vi.spyOn(os, 'userInfo').mockImplementation(noPasswdEntry);
    vi.spyOn(os, 'homedir').mockImplementation(noPasswdEntry);
    const p = await projectWithDefaultStore();
    const env = { HOME: undefined, XDG_CACHE_HOME: undefined };
    const update = await runCliCaptured(['update', '--manifest', p.manifest, '--host-dir', p.hostDir], { cwd: p.dir, env });
    expect(update.code, update.stderr).toBe(2);
    expect(update.stderr).toContain('No home folder is known');
    expect(update.stderr).toMatch(/--cache-dir.*MODELS_CACHE_DIR|MODELS_CACHE_DIR.*--cache-dir/s);
    expect(update.stderr).toContain('XDG_CACHE_HOME');
    expect(update.stderr).not.toContain('Internal error');
    const verify = await runCliCaptured(['verify', '--manifest', p.manifest, '--host-dir', p.hostDir, '--json'], { cwd: p.dir, env });
    expect(verify.code, verify.stderr + verify.stdout).toBe(2);
    const err = JSON.parse(verify.stdout).error as { code: string; message: string; hint: string };
    expect(err.code).toBe('ENOHOME');
    expect(err.hint).toContain('XDG_CACHE_HOME');
    expect(err.hint).not.toMatch(/--cache-dir|MODELS_CACHE_DIR/);
  });

  it('a store given by --cache-dir needs no home folder', async () => {
    vi.spyOn(os, 'userInfo').mockImplementation(noPasswdEntry);
    vi.spyOn(os, 'homedir').mockImplementation(noPasswdEntry);
    const p = await projectWithDefaultStore();
    const update = await runCliCaptured(['update', '--manifest', p.manifest, '--host-dir', p.hostDir, '--cache-dir', p.cacheDir, '--no-compose', '--no-smoke'], { cwd: p.dir, env: { HOME: undefined } });
    expect(update.stderr).not.toContain('home folder');
  });
});
