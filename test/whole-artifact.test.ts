/**
 * An artifact is installed whole or not at all: when one of its files fails (wrong size or
 * sha256, a source that cannot deliver it), none of its other new files replaces anything in the
 * host folder, the previous install stays exactly as it was, and the summary says what happened
 * (no "1 file installed" next to "Nothing was installed"). Other artifacts are not affected.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import type { DoctorContext } from '../lib/doctor/check.ts';
import { checkKeptVersions } from '../lib/doctor/checks/kept-versions.ts';
import { ExitCode } from '../lib/errors.ts';
import { hostFilePath, hostStatePath, keptDir } from '../lib/layout.ts';
import type { PlannedFile } from '../lib/plan.ts';
import { createHttpSource } from '../lib/sources/http/source.ts';
import { sweepHostTemps } from '../lib/store/host-temps.ts';
import { Store } from '../lib/store/store.ts';
import { Installer } from '../lib/update/installer.ts';
import { StateCache } from '../lib/verify/state-cache.ts';
import { listFiles, manifestYaml, runCliCaptured, serverFiles, sha256, tempProject, type TestArtifact } from './helpers/cli.ts';
import { expectCleanState, type ExpectedFile } from './helpers/fault-state.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const servers: FaultServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const A = 'student/v0_ja';
const B = 'student/v0_en';

function version(n: number): TestArtifact[] {
  return [
    {
      id: A,
      files: [
        { path: 'model.safetensors', data: randomBytes(200_000 + n) },
        { path: 'config.json', data: Buffer.from(`{"lang":"ja","v":${n}}\n`) },
        { path: 'tokenizer/vocab.txt', data: randomBytes(5_000 + n) },
      ],
    },
    { id: B, files: [{ path: 'model.safetensors', data: randomBytes(100_000 + n) }] },
  ];
}

const expected = (artifacts: TestArtifact[]): ExpectedFile[] => artifacts.flatMap((a) => a.files.map((f) => ({ id: a.id, path: f.path, data: f.data })));

async function setup(artifacts: TestArtifact[]) {
  const s = await startFaultServer({ files: serverFiles(artifacts) });
  servers.push(s);
  const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: s.url }] }));
  return { s, p };
}

async function update(manifest: string) {
  const r = await runCliCaptured(['update', '--manifest', manifest, '--json']);
  return { ...r, report: JSON.parse(r.stdout) };
}

/**
 * v1 installed, then v2 of the model and vocabulary switched in by an Installer in this process: the
 * vocabulary's switch fails (its staged name removed), and the model's previous version cannot be put
 * back (a non-empty folder put at its place right after it is switched in). `keptBlocked`: a file
 * where .modelmount/kept belongs, so that version cannot be kept there either.
 */
async function switchNotPutBack(keptBlocked = false) {
  const v1 = version(1);
  const { s, p } = await setup(v1);
  expect((await update(p.manifest)).code).toBe(0);
  const [a] = version(2);
  const [model, , vocab] = a!.files;
  for (const f of [model!, vocab!]) s.setFile(`/${A}/${f.path}`, f.data);
  const store = await Store.open(p.cacheDir);
  const hostCache = await StateCache.load(hostStatePath(p.hostDir), 'host');
  const installer = new Installer({ store, hostDir: p.hostDir, sources: [createHttpSource({ name: 'mirror', kind: 'http', base: s.url })], jobs: 2, hostCache });
  const planned = (f: { path: string; data: Buffer }): PlannedFile => ({
    artifactId: A, path: f.path, size: f.data.length, sha256: sha256(f.data), action: 'fetch', via: 'http', host: 'modified', reason: 'test',
  });
  for (const f of [model!, vocab!]) expect((await installer.installFile(planned(f))).status).toBe('ok');
  // the vocabulary's staged name vanishes: its switch fails, and the model switched beside it is rolled back
  const tmpDir = path.join(p.hostDir, '.modelmount', 'tmp');
  await fs.rm(path.join(tmpDir, (await fs.readdir(tmpDir)).find((n) => n.startsWith('vocab.txt.'))!));
  // right after the model is switched in (when the installer records it), something puts a
  // non-empty folder at its place: renaming the backup back over it then fails (ENOTEMPTY)
  const modelDest = hostFilePath(p.hostDir, A, model!.path);
  const record = hostCache.record.bind(hostCache);
  hostCache.record = (key, st, sha) => {
    record(key, st, sha);
    if (sha !== sha256(model!.data)) return;
    fsSync.rmSync(modelDest);
    fsSync.mkdirSync(path.join(modelDest, 'inside'), { recursive: true });
  };
  if (keptBlocked) await fs.writeFile(keptDir(p.hostDir), 'in the way');
  const failure = await installer.finishArtifact(A, true);
  expect(failure?.path).toBe(vocab!.path);
  expect(failure?.notPutBack?.map((n) => n.path)).toEqual([model!.path]);
  return { p, v1, model, vocab, modelDest, tmpDir, failure };
}

/** What this process left in .modelmount/tmp, renamed as a dead process's: as it is once this run has ended. */
async function asIfExited(tmpDir: string): Promise<void> {
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  for (const n of await fs.readdir(tmpDir)) await fs.rename(path.join(tmpDir, n), path.join(tmpDir, n.replace(`.${process.pid}.`, `.${dead}.`)));
}

describe('an artifact is installed whole or not at all', () => {
  it('fresh install, one file has the wrong sha256: none of its files is installed; the other artifact is', async () => {
    const v1 = version(1);
    const { s, p } = await setup(v1);
    s.fault(`/${A}/config.json`, { corrupt: [3] }, 20);
    const r = await update(p.manifest);
    expect(r.code).toBe(ExitCode.integrity);
    const files = expected(v1);
    await expectCleanState(p, files, { installed: (f) => f.id === B });
    const a = r.report.artifacts.find((x: { id: string }) => x.id === A);
    expect(a.status).toBe('failed');
    expect(a.files.map((f: { path: string; status: string }) => `${f.path}:${f.status}`).sort()).toEqual([
      'config.json:failed',
      'model.safetensors:not-installed',
      'tokenizer/vocab.txt:not-installed',
    ]);
    expect(r.report.totals).toMatchObject({ installed: 1, failed: 1, notInstalled: 2 });
  });

  it('an update where one new file is wrong: every file of the artifact stays at the previous version', async () => {
    const v1 = version(1);
    const { s, p } = await setup(v1);
    expect((await update(p.manifest)).code).toBe(0);
    const v2 = version(2);
    for (const [k, v] of Object.entries(serverFiles(v2))) s.setFile(k, v);
    await fs.writeFile(p.manifest, manifestYaml({ artifacts: v2, sources: [{ name: 'mirror', url: s.url }] }));
    s.fault(`/${A}/tokenizer/vocab.txt`, { corrupt: [0] }, 20);
    const r = await update(p.manifest);
    expect(r.code).toBe(ExitCode.integrity);
    const previous = new Map(expected(v1).map((f) => [`${f.id}/${f.path}`, f.data]));
    await expectCleanState(p, expected(v2), { installed: (f) => f.id === B, previous });
    // and once the server is fixed, the next run installs the whole new version
    s.setFaults({});
    const again = await update(p.manifest);
    expect(again.code).toBe(0);
    await expectCleanState(p, expected(v2), { installed: true });
  });

  it('the human summary says exactly what happened', async () => {
    const v1 = version(1);
    const { s, p } = await setup(v1);
    s.fault(`/${A}/model.safetensors`, { status: 404 }, 20);
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code).toBe(ExitCode.sources);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/FAILED: 1 file installed, 0 unchanged, 1 failed, 2 not installed/);
    expect(out).toMatch(/student\/v0_ja: nothing installed \(an artifact is installed whole or not at all\)/);
    expect(out).not.toMatch(/Nothing was installed\./);
  });
});

describe('switching an artifact in', () => {
  it('a rename that fails half-way puts back every file already switched (the previous version stays whole)', async () => {
    const v1 = version(1);
    const { s, p } = await setup(v1);
    expect((await update(p.manifest)).code).toBe(0);
    // v2 changes model.safetensors and adds a new file
    const [a] = version(2);
    const model = a!.files[0]!;
    const added = { path: 'extra/new.bin', data: randomBytes(777) };
    for (const f of [model, added]) s.setFile(`/${A}/${f.path}`, f.data);
    const store = await Store.open(p.cacheDir);
    const hostCache = await StateCache.load(hostStatePath(p.hostDir), 'host');
    const installer = new Installer({ store, hostDir: p.hostDir, sources: [createHttpSource({ name: 'mirror', kind: 'http', base: s.url })], jobs: 2, hostCache });
    const planned = (f: { path: string; data: Buffer }): PlannedFile => ({
      artifactId: A,
      path: f.path,
      size: f.data.length,
      sha256: sha256(f.data),
      action: 'fetch',
      via: 'http',
      host: 'missing',
      reason: 'test',
    });
    // both staged (model first); then something puts a folder where the new file goes
    expect((await installer.installFile(planned(model))).status).toBe('ok');
    expect((await installer.installFile(planned(added))).status).toBe('ok');
    const blocker = hostFilePath(p.hostDir, A, added.path);
    await fs.mkdir(path.join(blocker, 'inside'), { recursive: true });
    const failure = await installer.finishArtifact(A, true);
    expect(failure?.path).toBe(added.path);
    expect((failure?.error as { code?: string }).code).toBe('ENOTFILE');
    // the model switched first was put back: v1 whole
    const v1model = v1[0]!.files[0]!;
    expect(sha256(await fs.readFile(hostFilePath(p.hostDir, A, v1model.path)))).toBe(sha256(v1model.data));
    expect(await listFiles(path.join(p.hostDir, '.modelmount', 'tmp'))).toEqual([]);
  });

  it('files are switched several at a time: one that fails half-way puts back every file switched, also those under way beside it', async () => {
    const many = (n: number): TestArtifact[] => [
      { id: A, files: Array.from({ length: 60 }, (_, i) => ({ path: `shard/${String(i).padStart(2, '0')}.bin`, data: randomBytes(1_000 + i * 10 + n) })) },
    ];
    const v1 = many(1);
    const { s, p } = await setup(v1);
    expect((await update(p.manifest)).code).toBe(0);
    const [a] = many(2);
    for (const f of a!.files) s.setFile(`/${A}/${f.path}`, f.data);
    const store = await Store.open(p.cacheDir);
    const hostCache = await StateCache.load(hostStatePath(p.hostDir), 'host');
    const installer = new Installer({ store, hostDir: p.hostDir, sources: [createHttpSource({ name: 'mirror', kind: 'http', base: s.url })], jobs: 4, hostCache });
    for (const f of a!.files) {
      const pf: PlannedFile = { artifactId: A, path: f.path, size: f.data.length, sha256: sha256(f.data), action: 'fetch', via: 'http', host: 'modified', reason: 'test' };
      expect((await installer.installFile(pf)).status).toBe('ok');
    }
    // the staged name of file 40 vanishes: its rename fails after files before it (and some after it) were switched
    const tmpDir = path.join(p.hostDir, '.modelmount', 'tmp');
    await fs.rm(path.join(tmpDir, (await fs.readdir(tmpDir)).find((n) => n.startsWith('40.bin.'))!));
    const failure = await installer.finishArtifact(A, true);
    expect(failure?.path).toBe('shard/40.bin');
    expect(String((failure?.error as Error).message)).toContain('40.bin'); // the failing file's own error
    for (const f of v1[0]!.files) expect(sha256(await fs.readFile(hostFilePath(p.hostDir, A, f.path))), f.path).toBe(sha256(f.data));
    expect(await listFiles(tmpDir)).toEqual([]);
  });

  it('a switched file whose previous version cannot be put back: its backup is kept with the old bytes, and the failure names it', async () => {
    const { p, v1, model, vocab, modelDest, tmpDir, failure } = await switchNotPutBack();
    const { message, hint } = failure!.notPutBack![0]!.error;
    expect(message).toContain(modelDest);
    // the model's previous version is kept under .modelmount/kept, named in the error, with the v1 bytes
    const keptDir = path.join(p.hostDir, '.modelmount', 'kept');
    const keptFiles = await listFiles(keptDir);
    expect(keptFiles).toHaveLength(1);
    const kept = path.join(keptDir, keptFiles[0]!);
    expect(keptFiles[0]).toMatch(new RegExp(`^${`${A}/${model!.path}`.replaceAll(".", "\\.")}\\.\\d{8}T\\d{6}Z$`));
    expect(message).toContain(kept);
    expect(hint).toContain(`mv ${kept} ${modelDest}`);
    expect(hint).toContain('never removes');
    expect(sha256(await fs.readFile(kept))).toBe(sha256(v1[0]!.files[0]!.data));
    expect(await fs.readdir(tmpDir)).toEqual([]); // the backup's temp name went: it is only a name
    // the vocabulary was never switched: still v1
    expect(sha256(await fs.readFile(hostFilePath(p.hostDir, A, vocab!.path)))).toBe(sha256(v1[0]!.files[2]!.data));
    // later runs (this process gone: what it left in .modelmount/tmp now names a dead owner) sweep
    // .modelmount/tmp and collect garbage: the kept version stays where the error said
    await asIfExited(tmpDir);
    await sweepHostTemps(p.hostDir);
    expect((await update(p.manifest)).code).not.toBe(0); // the folder at the model's place is still there
    expect((await runCliCaptured(['gc', '--manifest', p.manifest, '--yes'])).code).toBe(0);
    expect(sha256(await fs.readFile(kept))).toBe(sha256(v1[0]!.files[0]!.data));
    // and doctor points at it
    const [finding] = await checkKeptVersions({ manifest: { hostDir: p.hostDir } } as DoctorContext);
    expect(finding).toMatchObject({ id: 'kept-versions', verdict: 'warn' });
    expect(finding!.message).toContain(kept);
  });

  it("a previous version that can be neither put back nor kept stays in the switch's aside folder; the hint says what the next run that installs a file, or gc, does with it, and they do", async () => {
    const { p, v1, modelDest, tmpDir, failure } = await switchNotPutBack(true);
    const { message, hint } = failure!.notPutBack![0]!.error;
    const asideOf = async () => path.join(tmpDir, (await fs.readdir(tmpDir)).find((n) => n.endsWith('.aside'))!);
    const at = path.join(await asideOf(), A, 'model.safetensors');
    expect(message).toBe(`${modelDest} could not be put back to its previous version: that version is kept at ${at}.`);
    expect(sha256(await fs.readFile(at))).toBe(sha256(v1[0]!.files[0]!.data));
    expect(hint).toBe(
      `To restore it, move away what is at ${modelDest}, then \`mv ${at} ${modelDest}\` before the next run that installs a file into this host folder, or \`gc\`: ` +
        `each removes it if ${modelDest} then holds a file, puts it back there if ${modelDest} is missing, and otherwise keeps it below ${keptDir(p.hostDir)} (or, should that fail, leaves it where it is).`,
    );
    // what the hint says, once this run has ended: the folder still at the model's place and
    // .modelmount/kept a file, gc leaves it where it is; with that folder moved away, gc puts it back
    await asIfExited(tmpDir);
    const aside = await asideOf();
    const gc = async () => JSON.parse((await runCliCaptured(['gc', '--manifest', p.manifest, '--json'])).stdout).settled;
    expect(await gc()).toEqual([{ folder: aside, files: [{ dest: modelDest, fate: 'left', at: path.join(aside, A, 'model.safetensors') }] }]);
    expect(sha256(await fs.readFile(path.join(aside, A, 'model.safetensors')))).toBe(sha256(v1[0]!.files[0]!.data));
    await fs.rm(modelDest, { recursive: true });
    expect(await gc()).toEqual([{ folder: aside, files: [{ dest: modelDest, fate: 'put back' }] }]);
    expect(sha256(await fs.readFile(modelDest))).toBe(sha256(v1[0]!.files[0]!.data));
  });

  it('no staged name stays in .modelmount/tmp, also when a destination already is the staged file', async () => {
    const v1 = version(1);
    const { s, p } = await setup(v1);
    const [a] = version(2);
    for (const f of a!.files) s.setFile(`/${A}/${f.path}`, f.data);
    const store = await Store.open(p.cacheDir);
    const hostCache = await StateCache.load(hostStatePath(p.hostDir), 'host');
    const installer = new Installer({ store, hostDir: p.hostDir, sources: [createHttpSource({ name: 'mirror', kind: 'http', base: s.url })], jobs: 2, hostCache });
    const planned = (f: { path: string; data: Buffer }): PlannedFile => ({
      artifactId: A, path: f.path, size: f.data.length, sha256: sha256(f.data), action: 'fetch', via: 'http', host: 'missing', reason: 'test',
    });
    for (const f of a!.files) expect((await installer.installFile(planned(f))).status).toBe('ok');
    // something links the staged model in place before the switch: rename() then keeps both names
    const tmpDir = path.join(p.hostDir, '.modelmount', 'tmp');
    const stagedModel = (await fs.readdir(tmpDir)).find((n) => n.startsWith('model.safetensors.'))!;
    const dest = hostFilePath(p.hostDir, A, 'model.safetensors');
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.link(path.join(tmpDir, stagedModel), dest);
    expect(await installer.finishArtifact(A, true)).toBeUndefined();
    for (const f of a!.files) expect(sha256(await fs.readFile(hostFilePath(p.hostDir, A, f.path)))).toBe(sha256(f.data));
    expect(await listFiles(tmpDir)).toEqual([]);
  });

  it('a folder where a new file goes, there before the run: exit 5 naming it, no file of that artifact switched in, nothing staged left', async () => {
    const v1 = version(1);
    const { p } = await setup(v1);
    const blocker = hostFilePath(p.hostDir, A, 'tokenizer/vocab.txt');
    await fs.mkdir(path.join(blocker, 'inside'), { recursive: true });
    const r = await update(p.manifest);
    expect(r.code).toBe(ExitCode.disk);
    expect(r.stdout + r.stderr).toContain(`${blocker} is a folder where the manifest expects a file`);
    const a = r.report.artifacts.find((x: { id: string }) => x.id === A);
    expect(a.files.map((f: { path: string; status: string }) => `${f.path}:${f.status}`).sort()).toEqual([
      'config.json:not-installed',
      'model.safetensors:not-installed',
      'tokenizer/vocab.txt:failed',
    ]);
    await expect(fs.access(hostFilePath(p.hostDir, A, 'model.safetensors'))).rejects.toThrow();
    expect((await fs.stat(path.join(blocker, 'inside'))).isDirectory()).toBe(true);
    expect(await listFiles(path.join(p.hostDir, '.modelmount', 'tmp'))).toEqual([]);
  });
});
