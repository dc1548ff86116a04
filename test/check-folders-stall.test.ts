/**
 * The folder check every command runs first (checkFolders, through loadRunContext/resolveFolders)
 * on a host folder or store that stops answering: its looks (the realpath of each folder, the lstat
 * of <hostDir>/.git) are under the stall bound and the run's signal, so a mount hung from the start
 * is ESTALLED (exit 5) naming the folder, never a hang before any other check.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Io } from '../lib/io.ts';
import { checkFolders } from '../lib/manifest/folders.ts';
import { loadRunContext, type ContextOptions } from '../lib/run-context.ts';
import { STALL_DEFAULTS } from '../lib/stall.ts';
import { runWarm } from '../lib/update/run-warm.ts';
import { cliEnv, manifestYaml, sampleArtifacts, tempDir, tempProject } from './helpers/cli.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';
import { oneArtifactProject } from './helpers/one-artifact-project.ts';

afterEach(endHungLooks);

async function folders(): Promise<{ hostDir: string; cacheDir: string }> {
  const root = await tempDir();
  return { hostDir: path.join(root, 'models'), cacheDir: path.join(root, 'store') };
}

describe('checkFolders on a folder that stops answering', () => {
  const cases: [string, (f: { hostDir: string; cacheDir: string }) => Parameters<typeof hangFs>, (f: { hostDir: string; cacheDir: string }) => string][] = [
    ["the host folder's realpath", (f) => ['realpath', f.hostDir], (f) => f.hostDir],
    ["the store's realpath", (f) => ['realpath', f.cacheDir], (f) => f.cacheDir],
    ['the lstat of <hostDir>/.git', (f) => ['lstat', path.join(f.hostDir, '.git')], (f) => f.hostDir],
  ];
  for (const [what, target, named] of cases) {
    it(`${what}: a stall naming the folder (ESTALLED, exit 5), not a hang`, async () => {
      const f = await folders();
      await fs.mkdir(f.hostDir);
      await fs.mkdir(f.cacheDir);
      hangFs(...target(f));
      const err = await checkFolders(f, { idleMs: 200 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
      expect((err as Error).message).toBe(`Looking at ${named(f)} stalled: no answer for 0.2 s (a hung network mount?).`);
      // every command checks its folders, not all have --host-dir and --cache-dir: no option is named
      expect((err as { hint?: string }).hint).toMatch(/remount/);
      expect((err as { hint?: string }).hint).not.toMatch(/--host-dir|--cache-dir/);
    });
  }

  it('an abort (Ctrl+C) ends the wait at once with its reason, whatever the bound; a folder not there yet is looked at through its parent, bound too', async () => {
    const f = await folders();
    const hung = hangFs('realpath', path.dirname(f.hostDir));
    const ac = new AbortController();
    const checking = checkFolders(f, { idleMs: 10 * 60_000, signal: ac.signal }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(hung.called()).toBe(true));
    ac.abort(new Error('Interrupted'));
    expect(await checking).toMatchObject({ message: 'Interrupted' });
  });

  it("loadRunContext (every command's start) passes the run's signal on: an abort ends the wait on a hung host folder", async () => {
    const project = await tempProject(manifestYaml({ artifacts: sampleArtifacts({ ja: 10, en: 10, teacher: 10 }), sources: [{ name: 'web', url: 'https://models.example/' }] }));
    await fs.mkdir(project.hostDir);
    const hung = hangFs('realpath', project.hostDir);
    const io: Io = { stdout: process.stdout, stderr: process.stderr, env: {}, cwd: project.dir, isTTY: false };
    const ac = new AbortController();
    const loading = loadRunContext({ manifest: project.manifest }, io, ac.signal).catch((e: unknown) => e);
    await vi.waitFor(() => expect(hung.called()).toBe(true));
    ac.abort(new Error('Interrupted'));
    expect(await loading).toMatchObject({ message: 'Interrupted' });
  });
});

describe('the stall hint of the folder check names how that folder was set', () => {
  /** loadRunContext (every command's start) with fs.realpath of `hung` never answering, past the stall bound. */
  async function stallOf(opts: ContextOptions, env: NodeJS.ProcessEnv, project: { dir: string }, hung: string): Promise<{ code?: string; message: string; hint?: string }> {
    const look = hangFs('realpath', hung);
    const io: Io = { stdout: process.stdout, stderr: process.stderr, env, cwd: project.dir, isTTY: false };
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const loading = loadRunContext(opts, io, undefined).then(
      () => new Error('no stall'),
      (e: unknown) => e,
    );
    await untilAsked(look, loading);
    await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
    return (await loading) as { code?: string; message: string; hint?: string };
  }

  async function project(): Promise<Awaited<ReturnType<typeof tempProject>> & { other: string }> {
    const p = await tempProject(manifestYaml({ artifacts: sampleArtifacts({ ja: 10, en: 10, teacher: 10 }), sources: [{ name: 'web', url: 'https://models.example/' }] }));
    const other = path.join(p.dir, 'elsewhere');
    for (const d of [p.hostDir, p.cacheDir, other]) await fs.mkdir(d);
    return { ...p, other };
  }

  it('--host-dir given: the hint names --host-dir', async () => {
    const p = await project();
    const err = await stallOf({ manifest: p.manifest, hostDir: p.other }, {}, p, p.other);
    expect(err).toMatchObject({ code: 'ESTALLED', message: expect.stringContaining(`Looking at ${p.other} stalled`) });
    expect(err.hint).toContain('or point --host-dir elsewhere');
    expect(err.hint).not.toMatch(/MODELS_HOST_DIR|--cache-dir|hostDir/);
  });

  it('MODELS_HOST_DIR set: the hint names MODELS_HOST_DIR, not --host-dir', async () => {
    const p = await project();
    const err = await stallOf({ manifest: p.manifest, hostDir: p.other }, { MODELS_HOST_DIR: p.other }, p, p.other);
    expect(err.hint).toContain('or point MODELS_HOST_DIR elsewhere');
    expect(err.hint).not.toMatch(/--host-dir|--cache-dir/);
  });

  it("the manifest's hostDir: the hint names it, not a command-line option the command may lack", async () => {
    const p = await project();
    const err = await stallOf({ manifest: p.manifest }, {}, p, p.hostDir);
    expect(err).toMatchObject({ code: 'ESTALLED', message: expect.stringContaining(`Looking at ${p.hostDir} stalled`) });
    expect(err.hint).toContain("or point the manifest's hostDir elsewhere");
    expect(err.hint).not.toMatch(/--host-dir|--cache-dir|MODELS_/);
  });

  it("the store: --cache-dir when given, else the manifest's cacheDir", async () => {
    const p = await project();
    const given = await stallOf({ manifest: p.manifest, cacheDir: p.other }, {}, p, p.other);
    expect(given.hint).toContain('or point --cache-dir elsewhere');
    await endHungLooks();
    const fromManifest = await stallOf({ manifest: p.manifest }, {}, p, p.cacheDir);
    expect(fromManifest.hint).toContain("or point the manifest's cacheDir elsewhere");
    expect(fromManifest.hint).not.toMatch(/--host-dir|--cache-dir/);
  });
});

describe('warm (fills the store only) does not look at the host folder on disk', () => {
  it('a host folder whose realpath and .git lstat would hang is never asked; warm fills the store', async () => {
    const p = await oneArtifactProject();
    await fs.mkdir(p.hostDir, { recursive: true });
    const looks = [hangFs('realpath', p.hostDir), hangFs('lstat', path.join(p.hostDir, '.git'))];
    const io: Io = { stdout: new PassThrough(), stderr: new PassThrough(), env: cliEnv(), cwd: p.dir, isTTY: false };
    const run = runWarm({ manifest: p.manifest, quiet: true }, io, new AbortController().signal);
    let settled = false;
    void run.finally(() => (settled = true)).catch(() => {});
    while (!settled && !looks.some((l) => l.called())) await new Promise((resolve) => setImmediate(resolve));
    expect(looks.map((l) => l.called())).toEqual([false, false]);
    expect((await run).exitCode).toBe(0);
  });
});
