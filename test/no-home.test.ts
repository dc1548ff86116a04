/**
 * No home folder (HOME unset and a uid without a passwd entry, as in `docker run --user $(id -u)`
 * in CI) and no store given: a usage error naming what sets the store, never an internal error —
 * but only for a command that uses the store; the others never look for one.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCliCaptured } from './helpers/cli.ts';
import { BIN, runNode, type NodeRun } from './helpers/real-cli.ts';
import { oneArtifactProject } from './helpers/one-artifact-project.ts';
import { defaultCacheDir } from '../lib/layout.ts';
import { loadRunContext } from '../lib/run-context.ts';
import type { UsageError } from '../lib/errors.ts';
import { PassThrough } from 'node:stream';

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

function withoutHomeFolder(): void {
  vi.spyOn(os, 'userInfo').mockImplementation(noPasswdEntry);
  vi.spyOn(os, 'homedir').mockImplementation(noPasswdEntry);
}

const NO_HOME_ENV = { HOME: undefined, XDG_CACHE_HOME: undefined };

/** A uid with no passwd entry (getent finds none). */
function uidWithoutPasswdEntry(): number {
  for (let uid = 4242; ; uid++) if (spawnSync('getent', ['passwd', String(uid)]).status === 2) return uid;
}

/** The real CLI (bin/modelmount.mjs) as `uid`, with no HOME. */
function runAs(uid: number, args: string[], cwd: string): Promise<NodeRun> {
  return runNode([BIN, ...args], { cwd, uid, gid: uid, env: { PATH: process.env.PATH, CI: 'true', MODELMOUNT_CODE_CACHE: '0' } });
}

describe('no home folder known', () => {
  afterEach(() => vi.restoreAllMocks());

  it('update and gc exit 2 saying so; its hint names --cache-dir, MODELS_CACHE_DIR and XDG_CACHE_HOME', async () => {
    withoutHomeFolder();
    const p = await projectWithDefaultStore();
    const update = await runCliCaptured(['update', '--manifest', p.manifest, '--host-dir', p.hostDir], { cwd: p.dir, env: NO_HOME_ENV });
    expect(update.code, update.stderr).toBe(2);
    expect(update.stderr).toContain('No home folder is known');
    expect(update.stderr).toMatch(/--cache-dir.*MODELS_CACHE_DIR|MODELS_CACHE_DIR.*--cache-dir/s);
    expect(update.stderr).toContain('XDG_CACHE_HOME');
    expect(update.stderr).not.toContain('Internal error');
    // gc too (its options are built by the same helper, from its own flag table)
    const gc = await runCliCaptured(['gc', '--manifest', p.manifest, '--dry-run', '--json'], { cwd: p.dir, env: NO_HOME_ENV });
    expect(gc.code, gc.stderr).toBe(2);
    expect((JSON.parse(gc.stdout) as { error: { code: string; hint: string } }).error.hint).toMatch(/--cache-dir.*MODELS_CACHE_DIR/);
    const json = await runCliCaptured(['update', '--manifest', p.manifest, '--host-dir', p.hostDir, '--json'], { cwd: p.dir, env: NO_HOME_ENV });
    expect(json.code).toBe(2);
    expect((JSON.parse(json.stdout) as { error: { code: string } }).error.code).toBe('ENOHOME');
  });

  it('the hint of a command without --cache-dir names only what that command reads', async () => {
    withoutHomeFolder();
    const p = await projectWithDefaultStore();
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: NO_HOME_ENV, cwd: p.dir, isTTY: false };
    const err = (await loadRunContext({ manifest: p.manifest, cacheDirOption: false }, io, undefined).catch((e: unknown) => e)) as UsageError;
    expect(err.code).toBe('ENOHOME');
    expect(err.hint).toContain('XDG_CACHE_HOME');
    expect(err.hint).not.toMatch(/--cache-dir|MODELS_CACHE_DIR/);
  });

  it('the message names the default store of the platform: ~/Library/Caches/modelmount on macOS, else ~/.cache/modelmount', async () => {
    withoutHomeFolder();
    const p = await projectWithDefaultStore();
    for (const [platform, shown] of [['darwin', '~/Library/Caches/modelmount'], ['linux', '~/.cache/modelmount']] as const) {
      const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: NO_HOME_ENV, cwd: p.dir, isTTY: false, platform };
      const err = (await loadRunContext({ manifest: p.manifest }, io, undefined).catch((e: unknown) => e)) as UsageError;
      expect(err.code).toBe('ENOHOME');
      expect(err.message, platform).toContain(`(${shown})`);
    }
    // the same folder the store is put in when a home folder is known
    expect(defaultCacheDir({ HOME: '/Users/ann' }, 'darwin')).toBe('/Users/ann/Library/Caches/modelmount');
    expect(defaultCacheDir({ HOME: '/home/ann' }, 'linux')).toBe('/home/ann/.cache/modelmount');
  });

  it('verify, doctor and the other commands that never use the store run without one', async () => {
    const p = await projectWithDefaultStore();
    const install = await runCliCaptured(['update', '--manifest', p.manifest, '--cache-dir', p.cacheDir, '--yes', '--no-smoke'], { cwd: p.dir });
    expect(install.code, install.stderr).toBe(0);
    withoutHomeFolder();
    const verify = await runCliCaptured(['verify', '--manifest', p.manifest, '--json'], { cwd: p.dir, env: NO_HOME_ENV });
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    expect((JSON.parse(verify.stdout) as { ok: boolean }).ok).toBe(true);
    const doctor = await runCliCaptured(['doctor', '--manifest', p.manifest, '--json'], { cwd: p.dir, env: NO_HOME_ENV });
    expect(doctor.stdout + doctor.stderr).not.toMatch(/ENOHOME|No home folder/);
    expect(doctor.code, doctor.stderr + doctor.stdout).toBe(0);
    for (const argv of [['compose', '--print'], ['warm', '--key'], ['rollback', '--no-smoke'], ['k8s', 'render'], ['swarm', 'override']]) {
      const r = await runCliCaptured([...argv, '--manifest', p.manifest], { cwd: p.dir, env: NO_HOME_ENV });
      expect(r.stdout + r.stderr, argv.join(' ')).not.toMatch(/ENOHOME|No home folder/);
    }
  });

  it.skipIf(process.getuid?.() !== 0)('the real CLI as a uid without a passwd entry: verify and doctor run, update exits 2 ENOHOME', async () => {
    const p = await projectWithDefaultStore();
    const install = await runCliCaptured(['update', '--manifest', p.manifest, '--cache-dir', p.cacheDir, '--yes', '--no-smoke'], { cwd: p.dir });
    expect(install.code, install.stderr).toBe(0);
    expect(spawnSync(process.execPath, [BIN, '--version']).status).toBe(0); // a stale bundle is rebuilt here, by a user who may write it
    const uid = uidWithoutPasswdEntry();
    const node = spawnSync(process.execPath, ['-e', '0'], { uid, gid: uid });
    if (node.error || node.status !== 0) {
      throw new Error(`${process.execPath} cannot be run as uid ${uid} (${node.error?.message ?? `exit ${node.status}`}): this test needs a Node binary other users may run (chmod o+rx its folders)`);
    }
    // the project is that user's; the folders above it only let it through
    expect(spawnSync('chown', ['-R', `${uid}:${uid}`, p.dir]).status).toBe(0);
    for (let d = path.dirname(p.dir); d !== path.dirname(d); d = path.dirname(d)) await fs.chmod(d, (await fs.stat(d)).mode | 0o001);
    const verify = await runAs(uid, ['verify', '--manifest', p.manifest, '--json'], p.dir);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    const doctor = await runAs(uid, ['doctor', '--manifest', p.manifest, '--json'], p.dir);
    expect(doctor.stdout + doctor.stderr).not.toMatch(/ENOHOME|No home folder/);
    const update = await runAs(uid, ['update', '--manifest', p.manifest, '--json'], p.dir);
    expect(update.code, update.stderr).toBe(2);
    expect((JSON.parse(update.stdout) as { error: { code: string } }).error.code).toBe('ENOHOME');
  });

  it('a store given by --cache-dir needs no home folder', async () => {
    withoutHomeFolder();
    const p = await projectWithDefaultStore();
    const update = await runCliCaptured(['update', '--manifest', p.manifest, '--host-dir', p.hostDir, '--cache-dir', p.cacheDir, '--no-compose', '--no-smoke'], { cwd: p.dir, env: { HOME: undefined } });
    expect(update.stderr).not.toContain('home folder');
  });
});
