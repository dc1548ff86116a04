/**
 * The hint of a disk error (no space, no permission, a folder that cannot be created) names how to
 * move the folder concerned: the host folder's --host-dir / hostDir, the store's --cache-dir /
 * cacheDir, and where the folder is not known only the manifest's keys — never an option the
 * printing command may lack (doctor, compose, verify, smoke, rollback, apply have no --cache-dir).
 * Real conditions: small or read-only tmpfs mounts (root only), /proc, a need larger than any disk.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDirs } from '../lib/fs-safe.ts';
import { checkFreeSpace } from '../lib/store/space.ts';
import { runCliCaptured, tempDir } from './helpers/cli.ts';
import { oneArtifactProject } from './helpers/one-artifact-project.ts';
import { canMount, remountReadOnly, tmpfs } from './helpers/tmpfs.ts';

describe('the space check names the option of the folder short of space', () => {
  it('the host folder: --host-dir and hostDir, no --cache-dir', async () => {
    const dir = await tempDir();
    const err = await checkFreeSpace([{ dir, folder: 'host', bytes: 2 ** 62, what: 'the host folder' }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOSPC' });
    expect((err as { hint: string }).hint).toContain("--host-dir (or the manifest's hostDir)");
    expect((err as { hint: string }).hint).not.toContain('cache');
  });

  it.skipIf(!canMount)('update, with the store on a small disk: --cache-dir, no --host-dir', async () => {
    const p = await oneArtifactProject();
    const cacheDir = path.join(await tmpfs(16), 'cache'); // less than the 64 MiB headroom
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--cache-dir', cacheDir, '--yes', '--no-compose', '--no-smoke']);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain('Not enough free space');
    expect(r.stderr).toContain("--cache-dir (or the manifest's cacheDir)");
    expect(r.stderr).not.toContain('--host-dir');
  });
});

describe('a folder that cannot be created', () => {
  it('in an unknown folder: the manifest keys, no option', async () => {
    const err = await makeDirs('/proc/modelmount-test/x').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EMKDIR' });
    expect((err as { hint: string }).hint).toContain("the manifest's hostDir / cacheDir");
    expect((err as { hint: string }).hint).not.toContain('--');
  });

  it('in the store: --cache-dir', async () => {
    const err = await makeDirs('/proc/modelmount-test/x', 'cache').catch((e: unknown) => e);
    expect((err as { hint: string }).hint).toContain("--cache-dir (or the manifest's cacheDir)");
    expect((err as { hint: string }).hint).not.toContain('--host-dir');
  });
});

describe.skipIf(!canMount)('a read-only host folder', () => {
  it("compose (no --cache-dir): exit 5 at its run lock there, the hint names --host-dir and hostDir, no --cache-dir", async () => {
    const p = await oneArtifactProject();
    const root = await tmpfs(80); // host folder and store: room for the 64 MiB headroom
    const hostDir = path.join(root, 'host');
    const up = await runCliCaptured(['update', '--manifest', p.manifest, '--host-dir', hostDir, '--cache-dir', path.join(root, 'cache'), '--yes', '--no-compose', '--no-smoke']);
    expect(up.code, up.stderr).toBe(0);
    remountReadOnly(root);
    const r = await runCliCaptured(['compose', '--manifest', p.manifest, '--host-dir', hostDir]);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/EROFS/);
    expect(r.stderr).toContain("--host-dir (or the manifest's hostDir)");
    expect(r.stderr).not.toContain('--cache-dir');
  });
});

describe.skipIf(!canMount)('a read-only store', () => {
  it('gc, with a read-only store given by --cache-dir: exit 5 at its run lock there, the hint names --cache-dir and cacheDir', async () => {
    const p = await oneArtifactProject();
    const root = await tmpfs(80); // the store: room for the 64 MiB headroom
    const cacheDir = path.join(root, 'cache');
    const up = await runCliCaptured(['update', '--manifest', p.manifest, '--cache-dir', cacheDir, '--yes', '--no-compose', '--no-smoke']);
    expect(up.code, up.stderr).toBe(0);
    remountReadOnly(root);
    const r = await runCliCaptured(['gc', '--manifest', p.manifest, '--cache-dir', cacheDir, '--yes']);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(new RegExp(`Permission denied while locking ${cacheDir}.*EROFS`));
    expect(r.stderr).toContain("--cache-dir (or the manifest's cacheDir)");
    expect(r.stderr).not.toContain('--host-dir');
  });
});
