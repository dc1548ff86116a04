/**
 * A run killed (SIGKILL) in the middle of switching a file on a host folder without hardlinks, where
 * the previous file is moved aside (renamed into .modelmount/tmp) right before the new one is
 * renamed in: the next run's sweep of .modelmount/tmp never deletes that previous file while it is
 * the destination's only version. It goes back where it was when the destination is still missing
 * (as a failed switch puts it back), is kept below .modelmount/kept when it cannot go back, and is
 * removed only when the new file is in place (as the finished switch would have).
 * The run is a real child process (test/helpers/switch-kill-child.ts) stopped at that moment and killed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { GcReport } from '../lib/gc/report.ts';
import { hostFilePath, metaDir } from '../lib/layout.ts';
import { prepareHostTmpDir, sweepHostTemps } from '../lib/store/host-temps.ts';
import { keptOrigin } from '../lib/store/keep-backup.ts';
import { listKept } from '../lib/store/list-kept.ts';
import { HOST_TAG } from '../lib/owner.ts';
import { listFiles, manifestYaml, runCliCaptured, tempProject, writeSourceTree, type TestArtifact } from './helpers/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = path.join(ROOT, 'test/helpers/switch-kill-child.ts');
const A = 'student/v0_ja';

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const version = (data: Buffer): TestArtifact => ({ id: A, files: [{ path: 'sub/model.bin', data }, { path: 'config.json', data: Buffer.from('{}\n') }] });

/** `modelmount update` of `art` in a child process where link() into the host folder is refused; `moment`: where it stops for good (then it is killed there). */
async function update(p: { dir: string; manifest: string; hostDir: string }, art: TestArtifact, moment: 'place' | 'cleanup' | 'none'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const src = path.join(p.dir, `src-${art.files[0]!.data.length}`);
  await writeSourceTree(src, [art]);
  await fs.writeFile(p.manifest, manifestYaml({ artifacts: [art], sources: [{ name: 'src', url: src }] }));
  const dest = hostFilePath(p.hostDir, A, 'sub/model.bin');
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, p.hostDir, dest, moment, 'update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  child.stderr!.on('data', (c: Buffer) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  if (moment === 'none') {
    const r = await exited;
    expect(r.code, err).toBe(0);
    return r;
  }
  const stopped = await Promise.race([new Promise<boolean>((resolve) => child.stdout!.on('data', () => out.includes(`at ${moment}\n`) && resolve(true))), exited.then(() => false)]);
  expect(stopped, `the run ended without reaching "${moment}": ${err}`).toBe(true);
  child.kill('SIGKILL');
  return exited;
}

/** A project with v1 installed (no hardlinks in the host folder), and v1's model file as it is. */
async function installedV1() {
  const p = await tempProject('');
  const v1 = version(randomBytes(300_000));
  await update(p, v1, 'none');
  const dest = hostFilePath(p.hostDir, A, 'sub/model.bin');
  return { p, v1: v1.files[0]!.data, v2: version(randomBytes(300_001)), dest, ino: (await fs.lstat(dest)).ino };
}

const tmpOf = (hostDir: string) => path.join(metaDir(hostDir), 'tmp');

async function inodesBelow(dir: string): Promise<number[]> {
  return Promise.all((await listFiles(dir)).map(async (f) => (await fs.lstat(path.join(dir, f))).ino));
}

describe('killed mid-switch where the host folder has no hardlinks', () => {
  it('between moving the previous file aside and renaming the new one in: the next sweep puts the previous file back (the same inode); the next update then finishes', async () => {
    const { p, v1, v2, dest, ino } = await installedV1();
    expect(await update(p, v2, 'place')).toEqual({ code: null, signal: 'SIGKILL' });
    await expect(fs.lstat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
    // the previous file's only name is in .modelmount/tmp, a dead run's
    expect(await inodesBelow(tmpOf(p.hostDir))).toContain(ino);

    await sweepHostTemps(p.hostDir);
    expect(await fs.readFile(dest)).toEqual(v1);
    expect((await fs.lstat(dest)).ino).toBe(ino);
    expect(await listFiles(tmpOf(p.hostDir))).toEqual([]);
    expect(await listKept(p.hostDir)).toEqual([]);

    await update(p, v2, 'none');
    expect(await fs.readFile(dest)).toEqual(v2.files[0]!.data);
    expect(await listFiles(tmpOf(p.hostDir))).toEqual([]);
  });

  it('the same, with the destination folder gone meanwhile: the previous file is kept below .modelmount/kept, the folder is not made anew', async () => {
    const { p, v1, v2, dest, ino } = await installedV1();
    await update(p, v2, 'place');
    await fs.rm(path.dirname(dest), { recursive: true });

    await sweepHostTemps(p.hostDir);
    await expect(fs.lstat(path.dirname(dest))).rejects.toMatchObject({ code: 'ENOENT' });
    const kept = await listKept(p.hostDir);
    expect(kept).toHaveLength(1);
    expect(keptOrigin(p.hostDir, kept[0]!)).toEqual({ dest });
    expect(await fs.readFile(kept[0]!)).toEqual(v1);
    expect((await fs.lstat(kept[0]!)).ino).toBe(ino);
    expect(await listFiles(tmpOf(p.hostDir))).toEqual([]);
  });

  it('after the new file is in, before the previous one is removed: the next sweep removes it (as the finished switch would) and leaves the new file', async () => {
    const { p, v2, dest } = await installedV1();
    await update(p, v2, 'cleanup');
    expect(await fs.readFile(dest)).toEqual(v2.files[0]!.data);
    expect((await listFiles(tmpOf(p.hostDir))).length).toBeGreaterThan(0);

    await sweepHostTemps(p.hostDir);
    expect(await fs.readFile(dest)).toEqual(v2.files[0]!.data);
    expect(await listFiles(tmpOf(p.hostDir))).toEqual([]);
    expect(await listKept(p.hostDir)).toEqual([]);
  });
});

/** `modelmount gc --json` (in this process) of the project's manifest. */
async function gc(p: { manifest: string }, ...extra: string[]): Promise<GcReport> {
  const r = await runCliCaptured(['gc', '--manifest', p.manifest, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as GcReport;
}

/** The one aside folder a killed run left, by its path. */
async function onlyAside(hostDir: string): Promise<string> {
  const names = (await fs.readdir(tmpOf(hostDir))).filter((n) => n.endsWith('.aside'));
  expect(names).toHaveLength(1);
  return path.join(tmpOf(hostDir), names[0]!);
}

describe("gc and a killed run's aside folder (the sweep runs only when update stages a file)", () => {
  it('the new file in, the previous one not yet removed: update has nothing to stage and leaves it; gc removes it, as the finished switch would have, and says so', async () => {
    const { p, v2, dest } = await installedV1();
    await update(p, v2, 'cleanup');
    const aside = await onlyAside(p.hostDir);
    await update(p, v2, 'none');
    expect(await onlyAside(p.hostDir)).toBe(aside);

    const dry = await gc(p, '--dry-run');
    expect(dry.settled).toEqual([{ folder: aside, files: [{ dest, fate: 'removed' }] }]);
    await fs.lstat(aside);

    expect((await gc(p)).settled).toEqual([{ folder: aside, files: [{ dest, fate: 'removed' }] }]);
    await expect(fs.lstat(aside)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await fs.readFile(dest)).toEqual(v2.files[0]!.data);
    expect(await listKept(p.hostDir)).toEqual([]);
    expect((await gc(p)).settled).toEqual([]);
  });

  it('the destination missing: gc --dry-run says it would put the previous file back and changes nothing; gc puts it back (the same inode)', async () => {
    const { p, v1, v2, dest, ino } = await installedV1();
    await update(p, v2, 'place');
    const aside = await onlyAside(p.hostDir);

    expect((await gc(p, '--dry-run')).settled).toEqual([{ folder: aside, files: [{ dest, fate: 'put back' }] }]);
    await expect(fs.lstat(dest)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await inodesBelow(aside)).toEqual([ino]);

    expect((await gc(p)).settled).toEqual([{ folder: aside, files: [{ dest, fate: 'put back' }] }]);
    expect(await fs.readFile(dest)).toEqual(v1);
    expect((await fs.lstat(dest)).ino).toBe(ino);
    await expect(fs.lstat(aside)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("its destination's folder gone: gc keeps the previous file below .modelmount/kept and names it; the text report says what became of it", async () => {
    const { p, v1, v2, dest } = await installedV1();
    await update(p, v2, 'place');
    const aside = await onlyAside(p.hostDir);
    await fs.rm(path.dirname(dest), { recursive: true });

    expect((await gc(p, '--dry-run')).settled).toEqual([{ folder: aside, files: [{ dest, fate: 'kept' }] }]);
    const r = await runCliCaptured(['gc', '--manifest', p.manifest]);
    expect(r.code, r.stderr).toBe(0);
    const kept = await listKept(p.hostDir);
    expect(kept).toHaveLength(1);
    expect(await fs.readFile(kept[0]!)).toEqual(v1);
    expect(r.stdout).toContain(`Settled what an ended update left aside in ${aside}:`);
    expect(r.stdout).toContain(`kept      ${dest}: its previous version, which cannot go back there, is kept at ${kept[0]}`);
    await expect(fs.lstat(aside)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe("the sweep of a dead run's aside folder", () => {
  it('a link at an aside folder\'s name is only a name: removed, nothing below it is walked or moved', async () => {
    const p = await tempProject('');
    const elsewhere = path.join(p.dir, 'elsewhere');
    await fs.mkdir(path.join(elsewhere, A), { recursive: true });
    await fs.writeFile(path.join(elsewhere, A, 'model.bin'), 'not ours');
    await fs.mkdir(path.join(p.hostDir, A), { recursive: true });
    await fs.mkdir(tmpOf(p.hostDir), { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const name = `switch.${HOST_TAG}.${dead}.000000000001.aside`;
    await fs.symlink(elsewhere, path.join(tmpOf(p.hostDir), name));

    expect(await sweepHostTemps(p.hostDir)).toEqual([name]);
    expect(await fs.readFile(path.join(elsewhere, A, 'model.bin'), 'utf8')).toBe('not ours');
    await expect(fs.lstat(hostFilePath(p.hostDir, A, 'model.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await listKept(p.hostDir)).toEqual([]);
  });

  it("every stager of a host folder waits for its sweep, not only the first: no file is switched in while a dead run's previous file may still go back over it", async () => {
    const p = await tempProject('');
    await fs.mkdir(path.join(p.hostDir, A), { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const aside = path.join(tmpOf(p.hostDir), `switch.${HOST_TAG}.${dead}.000000000002.aside`);
    await fs.mkdir(path.join(aside, A), { recursive: true });
    await fs.writeFile(path.join(aside, A, 'model.bin'), 'previous');
    const dest = hostFilePath(p.hostDir, A, 'model.bin');

    // two artifacts staging at once: the second must not go on while the first one's sweep settles the folder
    const first = prepareHostTmpDir(p.hostDir);
    await prepareHostTmpDir(p.hostDir);
    expect(await fs.readFile(dest, 'utf8')).toBe('previous');
    await first;
  });
});
