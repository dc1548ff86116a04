/**
 * `modelmount gc` on real folders: what nothing references goes (blobs, artifact
 * folders, stale partials, leftover temp files); what a manifest, the install
 * record or the Compose override references never does; --dry-run lists exactly
 * what a real run removes and the bytes freed (hardlinks counted once); the lock.
 */
import { spawnSync } from 'node:child_process';
import { HOST_TAG } from '../lib/owner.ts';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GcReport } from '../lib/gc/report.ts';
import { blobPath, hostFilePath, hostStatePath, installRecordPath, lockPath, storeStatePath } from '../lib/layout.ts';
import { statIdentity } from '../lib/verify/state-cache.ts';
import { withRunLock } from '../lib/lock/run-lock.ts';
import { cliEnv, listFiles, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, sha256, tempDir, tempProject, type TestArtifact } from './helpers/cli.ts';
import { holdRunLock, runWatchingStderr } from './helpers/lock-holder.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

vi.mock('../lib/ui/prompts.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../lib/ui/prompts.ts')>();
  return { ...real, confirmGc: vi.fn() };
});
const mocked = vi.mocked(await import('../lib/ui/prompts.ts'));

let server: FaultServer;
let current: TestArtifact[];
let old: TestArtifact;
let cacheOnly: TestArtifact;

beforeAll(async () => {
  current = sampleArtifacts({ ja: 30_000, en: 20_000, teacher: 10_000 });
  old = { id: 'student/v_old', files: [{ path: 'model.bin', data: randomBytes(40_000) }] };
  cacheOnly = { id: 'other/v9', files: [{ path: 'w.bin', data: randomBytes(25_000) }] };
  server = await startFaultServer({ files: serverFiles([...current, old, cacheOnly]) });
});
afterAll(async () => {
  await server.close();
});

const NO_POST = ['--yes', '--no-compose', '--no-smoke'];
const DAY = 24 * 60 * 60 * 1000;

async function gc(manifests: string[], extra: string[] = []): Promise<{ code: number; report: GcReport; stderr: string }> {
  const r = await runCliCaptured(['gc', ...manifests.flatMap((m) => ['--manifest', m]), '--json', ...extra]);
  return { code: r.code, report: JSON.parse(r.stdout) as GcReport, stderr: r.stderr };
}

/**
 * A host folder and store that went through a manifest change:
 *   manifest.yaml listed student/v0_ja + student/v_old and was installed, then was edited to list
 *   ja, en and the optional teacher and installed again: its install record now wants ja and en and
 *   remembers v_old as installed by it and released; v_old is on disk, wanted by nothing.
 *   old.yaml lists ja + v_old (never installed with); other/v9 was only warmed into the store, for a manifest since deleted.
 */
async function scenario() {
  const sources = [{ name: 'mirror', url: server.url }];
  const p = await tempProject(manifestYaml({ artifacts: [current[0]!, old], sources }));
  let r = await runCliCaptured(['update', '--manifest', p.manifest, ...NO_POST]);
  expect(r.code, r.stderr).toBe(0);
  await fs.writeFile(p.manifest, manifestYaml({ artifacts: current, sources }));
  r = await runCliCaptured(['update', '--manifest', p.manifest, ...NO_POST]);
  expect(r.code, r.stderr).toBe(0);
  const oldManifest = path.join(p.dir, 'old.yaml');
  await fs.writeFile(oldManifest, manifestYaml({ artifacts: [current[0]!, old], sources }));
  const otherManifest = path.join(p.dir, 'other.yaml');
  await fs.writeFile(otherManifest, manifestYaml({ artifacts: [cacheOnly], sources }));
  // warmed through a copy since deleted: warm's registration is forgotten, the blob is referenced by nothing
  const warmedBy = path.join(p.dir, 'warmed-by.yaml');
  await fs.copyFile(otherManifest, warmedBy);
  r = await runCliCaptured(['warm', '--manifest', warmedBy]);
  expect(r.code, r.stderr).toBe(0);
  await fs.rm(warmedBy);
  return { ...p, oldManifest, otherManifest };
}

/** A manifest in `dir` listing the current artifacts, with a Compose section whose override is `dir`/compose.models.yaml. */
async function composeManifest(dir: string): Promise<string> {
  const file = path.join(dir, 'compose-manifest.yaml');
  await fs.writeFile(
    file,
    manifestYaml({
      artifacts: current,
      sources: [{ name: 'mirror', url: server.url }],
      extra: 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: compose.models.yaml\n  containerDir: /models',
    }),
  );
  return file;
}

/** That manifest's override, mounting `source` at `target`. */
async function writeOverride(dir: string, source: string, target: string): Promise<void> {
  await fs.writeFile(
    path.join(dir, 'compose.models.yaml'),
    `services:\n  worker:\n    volumes:\n      - type: bind\n        source: ${source}\n        target: ${target}\n        read_only: true\n`,
  );
}

const blobOf = (cacheDir: string, a: TestArtifact, i = 0) => blobPath(cacheDir, sha256(a.files[i]!.data));

describe('gc', () => {
  it('--dry-run lists exactly what a real run removes, with the bytes freed; referenced blobs and folders stay', async () => {
    const p = await scenario();
    const before = await listFiles(p.dir);
    const dry = await gc([p.manifest], ['--dry-run', '--yes']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.report.dryRun).toBe(true);
    expect(await listFiles(p.dir)).toEqual(before); // nothing touched
    const listed = dry.report.removals.map((r) => `${r.kind} ${r.id ?? r.sha256}`).sort();
    expect(listed).toEqual([`artifact student/v_old`, `blob ${sha256(cacheOnly.files[0]!.data)}`, `blob ${sha256(old.files[0]!.data)}`].sort());
    // v_old's host file and its blob are one inode: listed twice, freed once
    expect(dry.report.totals.bytes).toBe(40_000 * 2 + 25_000);
    expect(dry.report.totals.bytesFreed).toBe(40_000 + 25_000);
    const kept = dry.report.kept.artifacts.map((k) => k.id).sort();
    expect(kept).toEqual(['student/v0_en', 'student/v0_ja']);
    expect(dry.report.kept.artifacts.find((k) => k.id === 'student/v0_ja')!.why).toEqual([`in ${p.manifest}`, `in the install record of ${p.manifest}`]);

    const real = await gc([p.manifest], ['--yes']);
    expect(real.code, real.stderr).toBe(0);
    expect(real.report.removals.map((r) => r.path).sort()).toEqual(dry.report.removals.map((r) => r.path).sort());
    expect(real.report.totals).toEqual(dry.report.totals);
    await expect(fs.stat(path.join(p.hostDir, 'student/v_old'))).rejects.toThrow();
    await expect(fs.stat(blobOf(p.cacheDir, old))).rejects.toThrow();
    await expect(fs.stat(blobOf(p.cacheDir, cacheOnly))).rejects.toThrow();
    // every blob the manifest references is still there (the optional teacher was never fetched), and the install verifies
    for (const a of current.slice(0, 2)) for (let i = 0; i < a.files.length; i++) await fs.stat(blobOf(p.cacheDir, a, i));
    expect((await runCliCaptured(['verify', '--manifest', p.manifest, '--full'])).code).toBe(0);
    // the state caches forgot what went
    const hostState = await fs.readFile(path.join(p.hostDir, '.modelmount/state.json'), 'utf8');
    expect(hostState).not.toContain('v_old');
    expect(await fs.readFile(path.join(p.cacheDir, 'state.json'), 'utf8')).not.toContain(sha256(old.files[0]!.data));

    const again = await gc([p.manifest], ['--dry-run']);
    expect(again.report.removals).toEqual([]);
    const text = await runCliCaptured(['gc', '--manifest', p.manifest]);
    expect(text.stdout).toContain('Nothing to remove');
  });

  it('keeps what any of several manifests references (repeatable --manifest, or a comma list)', async () => {
    const p = await scenario();
    const r = await gc([p.manifest, p.otherManifest], ['--dry-run', '--yes']);
    expect(r.report.manifests).toEqual([p.manifest, p.otherManifest]);
    expect(r.report.removals.map((x) => x.id ?? x.sha256).sort()).toEqual(['student/v_old', sha256(old.files[0]!.data)].sort());
    const listed = await runCliCaptured(['gc', '--manifest', `${p.manifest},${p.oldManifest},${p.otherManifest}`, '--dry-run', '--yes', '--json']);
    expect((JSON.parse(listed.stdout) as GcReport).removals).toEqual([]);
  });

  it('never removes what the install record or the Compose override references', async () => {
    const p = await scenario();
    // v_old back in the install record (as if the old manifest were still the installed one)
    const recordPath = installRecordPath(p.hostDir, p.manifest);
    const record = JSON.parse(await fs.readFile(recordPath, 'utf8')) as { artifacts: Record<string, unknown> };
    record.artifacts['student/v_old'] = { files: [{ path: 'model.bin', size: 40_000, sha256: sha256(old.files[0]!.data) }], source: 'mirror', installedAt: new Date().toISOString() };
    await fs.writeFile(recordPath, JSON.stringify(record));
    // a folder nothing lists, but the current override mounts
    await fs.mkdir(path.join(p.hostDir, 'extra/mounted'), { recursive: true });
    await fs.writeFile(path.join(p.hostDir, 'extra/mounted/w.bin'), 'x');
    await fs.mkdir(path.join(p.hostDir, 'extra/stray'), { recursive: true });
    await fs.writeFile(path.join(p.hostDir, 'extra/stray/w.bin'), 'y');
    const withCompose = await composeManifest(p.dir);
    await writeOverride(p.dir, path.join(p.hostDir, 'extra/mounted'), '/models/extra');
    const r = await gc([withCompose], ['--yes']);
    expect(r.code, r.stderr).toBe(0);
    // extra/stray: no install record says modelmount put it there
    expect(r.report.removals.map((x) => x.id ?? x.sha256).sort()).toEqual([sha256(cacheOnly.files[0]!.data)]);
    expect(r.report.notOurs.map((n) => n.path)).toEqual([path.join(p.hostDir, 'extra/stray')]);
    await fs.stat(path.join(p.hostDir, 'extra/stray/w.bin'));
    await fs.stat(path.join(p.hostDir, 'student/v_old/model.bin'));
    await fs.stat(blobOf(p.cacheDir, old));
    await fs.stat(path.join(p.hostDir, 'extra/mounted/w.bin'));
    expect(r.report.kept.artifacts.find((k) => k.id === 'extra/mounted')?.why).toEqual(['mounted by the Compose override']);
    expect(r.report.kept.artifacts.find((k) => k.id === 'student/v_old')?.why).toEqual([`in the install record of ${p.manifest}`]);
  });

  it('keeps what the Compose override mounts when the override changes while gc waits for the run lock: it decides on what it reads under the lock', async () => {
    const p = await scenario();
    const withCompose = await composeManifest(p.dir);
    // no override yet: before the lock, gc sees v_old (in no live record's wanted set) as removable
    const held = await holdRunLock([p.cacheDir], 'modelmount compose');
    const run = runWatchingStderr(['gc', '--manifest', withCompose, '--yes'], cliEnv());
    try {
      await run.waiting;
      // meanwhile the other run writes an override that mounts v_old
      await writeOverride(p.dir, path.join(p.hostDir, 'student/v_old'), '/models/student/v_old');
    } finally {
      await held.release();
    }
    expect(await run.done, run.stderr()).toBe(0);
    await fs.stat(path.join(p.hostDir, 'student/v_old/model.bin'));
  });

  it('removes partial downloads untouched for a day and leftover install temp files, keeps fresh partials', async () => {
    const p = await scenario();
    const tmp = path.join(p.cacheDir, 'tmp');
    await fs.mkdir(tmp, { recursive: true });
    const stale = path.join(tmp, `${'a'.repeat(64)}.otherhost.1.abc.partial`);
    const fresh = path.join(tmp, `${'b'.repeat(64)}.otherhost.2.def.partial`);
    await fs.writeFile(stale, randomBytes(1000));
    await fs.writeFile(fresh, randomBytes(500));
    const old = new Date(Date.now() - DAY - 60_000);
    await fs.utimes(stale, old, old);
    // a small blob's sealed bytes left by a crash between their write and their link into the store
    const sealed = path.join(tmp, `${'c'.repeat(64)}.otherhost.3.ghi.sealed`);
    await fs.writeFile(sealed, randomBytes(300));
    await fs.utimes(sealed, old, old);
    const hostTmp = path.join(p.hostDir, '.modelmount/tmp');
    await fs.mkdir(hostTmp, { recursive: true });
    // left by a process of this host that is gone (a child that has exited): removed
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const leftover = `model.safetensors.${HOST_TAG}.${dead}.abc.tmp`;
    await fs.writeFile(path.join(hostTmp, leftover), 'left over');
    // a fresh one whose owner cannot be told (another host on a shared folder): may be a live install, kept
    const foreign = 'model.safetensors.otherhost.77.def.tmp';
    await fs.writeFile(path.join(hostTmp, foreign), 'in flight');
    const r = await gc([p.manifest, p.otherManifest, p.oldManifest]);
    expect(r.code).toBe(0);
    expect(r.report.removals.map((x) => `${x.kind} ${path.basename(x.path)}`).sort()).toEqual(
      [`partial ${path.basename(stale)}`, `partial ${path.basename(sealed)}`, `tmp ${leftover}`].sort(),
    );
    await fs.stat(fresh);
    expect(await listFiles(hostTmp)).toEqual([foreign]);
  });

  it('removing a folder whose files share a blob with kept files keeps those files verified (their cache entries follow the ctime)', async () => {
    const bytes = randomBytes(35_000);
    const keep: TestArtifact = { id: 'student/v0_ja', files: [{ path: 'model.bin', data: bytes }] };
    const gone: TestArtifact = { id: 'student/v_prev', files: [{ path: 'model.bin', data: bytes }] };
    const s = await startFaultServer({ files: serverFiles([keep, gone]) });
    try {
      const sources = [{ name: 'mirror', url: s.url }];
      const p = await tempProject(manifestYaml({ artifacts: [keep, gone], sources }));
      for (const list of [[keep, gone], [keep]]) {
        await fs.writeFile(p.manifest, manifestYaml({ artifacts: list, sources }));
        const r = await runCliCaptured(['update', '--manifest', p.manifest, ...NO_POST]);
        expect(r.code, r.stderr).toBe(0);
      }
      const kept = hostFilePath(p.hostDir, keep.id, 'model.bin');
      const ctimeBefore = (await fs.lstat(kept, { bigint: true })).ctimeNs;
      await new Promise((resolve) => setTimeout(resolve, 20)); // past the filesystem's timestamp granularity
      const r = await gc([p.manifest]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.report.removals.map((x) => x.id ?? x.sha256)).toEqual([gone.id]);
      const st = await fs.lstat(kept, { bigint: true });
      expect(st.ctimeNs).not.toBe(ctimeBefore); // the unlink of the other name moved it
      const host = JSON.parse(await fs.readFile(hostStatePath(p.hostDir), 'utf8')).entries;
      const store = JSON.parse(await fs.readFile(storeStatePath(p.cacheDir), 'utf8')).entries;
      expect(Object.keys(host)).toEqual([`${keep.id}/model.bin`]);
      expect(host[`${keep.id}/model.bin`].id).toBe(statIdentity(st));
      expect(store[sha256(bytes)].id).toBe(statIdentity(st));
    } finally {
      await s.close();
    }
  });

  it('leaves a host folder modelmount never installed into alone', async () => {
    const p = await tempProject(manifestYaml({ artifacts: current, sources: [{ name: 'mirror', url: server.url }], hostDir: 'precious' }));
    await fs.mkdir(path.join(p.dir, 'precious/photos'), { recursive: true });
    await fs.writeFile(path.join(p.dir, 'precious/photos/cat.jpg'), 'meow');
    const r = await gc([p.manifest]);
    expect(r.code).toBe(0);
    expect(r.report.removals).toEqual([]);
    expect(r.report.skipped[0]?.reason).toContain('not a modelmount host folder');
    await fs.stat(path.join(p.dir, 'precious/photos/cat.jpg'));
  });

  it('--no-wait exits 6 while another run holds the lock, removing nothing; a dry run does not wait', async () => {
    const p = await scenario();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let inside!: () => void;
    const entered = new Promise<void>((r) => (inside = r));
    const held = withRunLock([p.cacheDir], { wait: true, command: 'modelmount update' }, async () => {
      inside();
      await released;
    });
    await entered;
    try {
      const r = await gc([p.manifest], ['--no-wait']);
      expect(r.code).toBe(6);
      expect(r.report.ok).toBe(false);
      expect((r.report as unknown as { error: { code: string } }).error.code).toBe('ELOCKED');
      await fs.stat(path.join(p.hostDir, 'student/v_old'));
      await fs.stat(blobOf(p.cacheDir, old));
      const dry = await gc([p.manifest], ['--dry-run', '--no-wait', '--yes']);
      expect(dry.code).toBe(0);
      expect(dry.report.removals.length).toBe(3);
    } finally {
      release();
      await held;
    }
    await expect(fs.stat(lockPath(p.cacheDir))).rejects.toThrow();
  });
});

describe('gc ownership (issue 9)', () => {
  it('item 1: a host folder that holds the project (hostDir: ..) is refused with exit 2; nothing of the project is removed', async () => {
    const root = await tempDir();
    for (const d of ['.git', 'compose', 'manifests', 'src']) await fs.mkdir(path.join(root, d), { recursive: true });
    await fs.writeFile(path.join(root, 'src/app.py'), 'print(1)\n');
    await fs.writeFile(path.join(root, '.git/HEAD'), 'ref: refs/heads/main\n');
    const manifest = path.join(root, 'manifests/models.yaml');
    await fs.writeFile(manifest, manifestYaml({ artifacts: [current[1]!], sources: [{ name: 'mirror', url: server.url }], hostDir: '..', cacheDir: '../../cache-of-' + path.basename(root) }));
    const before = await listFiles(root);
    const up = await runCliCaptured(['update', '--manifest', manifest, ...NO_POST]);
    expect(up.code).toBe(2);
    expect(up.stderr).toMatch(/holds this manifest|contains the manifest/);
    const r = await runCliCaptured(['gc', '--manifest', manifest, '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hostDir');
    expect(await listFiles(root)).toEqual(before);
  });

  it('item 1: folders in the host folder that no install record lists are "not ours, left alone", never removed', async () => {
    const p = await scenario();
    await fs.mkdir(path.join(p.hostDir, 'src/app'), { recursive: true });
    await fs.writeFile(path.join(p.hostDir, 'src/app/main.py'), 'x');
    await fs.mkdir(path.join(p.hostDir, 'student/notes'), { recursive: true });
    await fs.writeFile(path.join(p.hostDir, 'student/notes/todo.txt'), 'y');
    const r = await gc([p.manifest], ['--yes']);
    expect(r.code, r.stderr).toBe(0);
    // only student/v_old goes: manifest.yaml's record says modelmount installed it and nothing wants it now
    expect(r.report.removals.filter((x) => x.kind === 'artifact' || x.kind === 'file').map((x) => x.id)).toEqual(['student/v_old']);
    await fs.stat(path.join(p.hostDir, 'src/app/main.py'));
    await fs.stat(path.join(p.hostDir, 'student/notes/todo.txt'));
    expect(r.report.notOurs.map((n) => n.path).sort()).toEqual([path.join(p.hostDir, 'src'), path.join(p.hostDir, 'student/notes')]);
    const text = await runCliCaptured(['gc', '--manifest', p.manifest, '--dry-run']);
    expect(text.stdout).toContain(`not ours, left alone: ${path.join(p.hostDir, 'src')}`);
  });

  it('item 1: of a released artifact, only the files modelmount installed go; a file the user added stays; a hand-edited record cannot point outside', async () => {
    const p = await scenario();
    const vOld = path.join(p.hostDir, 'student/v_old');
    await fs.writeFile(path.join(vOld, 'my-notes.txt'), 'mine');
    const outside = path.join(p.dir, 'outside');
    await fs.mkdir(outside);
    await fs.writeFile(path.join(outside, 'keep.bin'), 'x');
    const recordPath = installRecordPath(p.hostDir, p.manifest);
    const record = JSON.parse(await fs.readFile(recordPath, 'utf8'));
    record.released['../outside'] = { files: [{ path: 'keep.bin', size: 1, sha256: 'a'.repeat(64) }], releasedAt: new Date().toISOString() };
    record.released['student/v0_ja'] = { files: [{ path: '../../outside/keep.bin', size: 1, sha256: 'a'.repeat(64) }], releasedAt: new Date().toISOString() };
    await fs.writeFile(recordPath, JSON.stringify(record));
    const r = await gc([p.manifest], ['--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.report.removals.filter((x) => x.kind === 'file').map((x) => x.path)).toEqual([path.join(vOld, 'model.bin')]);
    expect(r.report.removals.some((x) => x.kind === 'artifact')).toBe(false);
    expect(r.report.notOurs.map((n) => n.path)).toEqual([path.join(vOld, 'my-notes.txt')]);
    expect(await listFiles(vOld)).toEqual(['my-notes.txt']);
    expect(await listFiles(outside)).toEqual(['keep.bin']);
    // what went is forgotten by the record: the folder the user keeps is not taken for ours later
    const after = JSON.parse(await fs.readFile(recordPath, 'utf8'));
    expect(Object.keys(after.released ?? {})).not.toContain('student/v_old');
  });

  it('item 2: two manifests sharing one host folder: gc --manifest A keeps what B installed', async () => {
    const sources = [{ name: 'mirror', url: server.url }];
    const p = await tempProject(manifestYaml({ artifacts: [current[0]!], sources }));
    const b = path.join(p.dir, 'b.yaml');
    await fs.writeFile(b, manifestYaml({ artifacts: [current[1]!], sources }));
    for (const m of [b, p.manifest]) expect((await runCliCaptured(['update', '--manifest', m, ...NO_POST])).code).toBe(0);
    const r = await gc([p.manifest], ['--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.report.removals).toEqual([]);
    await fs.stat(path.join(p.hostDir, 'student/v0_en/model.safetensors'));
    await fs.stat(blobOf(p.cacheDir, current[1]!));
    expect(r.report.kept.artifacts.find((k) => k.id === 'student/v0_en')?.why).toEqual([`in the install record of ${b}`]);
    expect((await runCliCaptured(['verify', '--manifest', b])).code).toBe(0);
  });

  it('item 2: an artifact a manifest dropped goes with gc (it was ours), once no other manifest wants it', async () => {
    const sources = [{ name: 'mirror', url: server.url }];
    const p = await tempProject(manifestYaml({ artifacts: [current[0]!, current[1]!], sources }));
    const b = path.join(p.dir, 'b.yaml');
    await fs.writeFile(b, manifestYaml({ artifacts: [current[1]!], sources }));
    for (const m of [p.manifest, b]) expect((await runCliCaptured(['update', '--manifest', m, ...NO_POST])).code).toBe(0);
    // A drops student/v0_en: B still wants it
    await fs.writeFile(p.manifest, manifestYaml({ artifacts: [current[0]!], sources }));
    expect((await runCliCaptured(['update', '--manifest', p.manifest, ...NO_POST])).code).toBe(0);
    expect((await gc([p.manifest], ['--yes'])).report.removals).toEqual([]);
    // B is deleted: its record is no longer live, so what only it wanted is ours to remove
    await fs.rm(b);
    const r = await gc([p.manifest], ['--yes']);
    expect(r.report.removals.map((x) => `${x.kind} ${x.id ?? x.sha256}`).sort()).toEqual(['artifact student/v0_en', `blob ${sha256(current[1]!.files[0]!.data)}`].sort());
    await expect(fs.stat(path.join(p.hostDir, 'student/v0_en'))).rejects.toThrow();
  });

  it('item 3: gc of a shared store keeps the blobs other projects installed and names them; forgets projects whose host folder is gone', async () => {
    const sources = [{ name: 'mirror', url: server.url }];
    const shared = await tempDir('modelmount-shared-');
    const env = { XDG_CACHE_HOME: shared };
    const store = path.join(shared, 'modelmount');
    const one = await tempProject(manifestYaml({ artifacts: [current[0]!], sources }).replace(/^cacheDir: .*\n/m, ''));
    const two = await tempProject(manifestYaml({ artifacts: [current[1]!], sources }).replace(/^cacheDir: .*\n/m, ''));
    for (const m of [one.manifest, two.manifest]) expect((await runCliCaptured(['update', '--manifest', m, ...NO_POST], { env })).code).toBe(0);
    const run = async (args: string[]) => {
      const res = await runCliCaptured(['gc', '--manifest', one.manifest, '--json', ...args], { env });
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout) as GcReport;
    };
    const r = await run(['--yes']);
    expect(r.removals).toEqual([]);
    await fs.stat(blobOf(store, current[1]!));
    expect(r.kept.projects).toContainEqual(expect.objectContaining({ hostDir: two.hostDir, manifest: two.manifest, blobs: 1 }));
    const text = await runCliCaptured(['gc', '--manifest', one.manifest, '--dry-run'], { env });
    expect(text.stdout).toContain(`Kept 1 blob for ${two.manifest} (host folder ${two.hostDir})`);
    // the other project's host folder is gone: its registration is forgotten and its blob goes
    await fs.rm(two.hostDir, { recursive: true });
    const after = await run(['--yes']);
    expect(after.removals.map((x) => x.sha256)).toEqual([sha256(current[1]!.files[0]!.data)]);
    expect(after.forgotten).toEqual([expect.objectContaining({ hostDir: two.hostDir, manifest: two.manifest })]);
    expect((await run(['--yes', '--dry-run'])).forgotten).toEqual([]);
  });

  it('item 3: asks before deleting on a terminal; without a terminal and without --yes it leaves the store blobs and says so', async () => {
    const p = await scenario();
    mocked.confirmGc.mockResolvedValueOnce(false);
    const asked = await runCliCaptured(['gc', '--manifest', p.manifest], { isTTY: true, env: { CI: '' } });
    expect(asked.code, asked.stderr).toBe(0);
    expect(mocked.confirmGc).toHaveBeenCalledTimes(1);
    expect(asked.stderr).toContain('Cancelled: nothing was changed');
    await fs.stat(blobOf(p.cacheDir, cacheOnly));
    await fs.stat(path.join(p.hostDir, 'student/v_old'));
    // non-interactive without --yes: only what install records prove ours goes; store blobs stay
    const quiet = await gc([p.manifest]);
    expect(quiet.report.removals.map((x) => x.kind)).toEqual(['artifact']);
    expect(quiet.report.held).toEqual({ blobs: 2, bytes: 40_000 + 25_000 });
    await fs.stat(blobOf(p.cacheDir, cacheOnly));
    const text = await runCliCaptured(['gc', '--manifest', p.manifest, '--dry-run']);
    expect(text.stdout).toContain('pass --yes');
    mocked.confirmGc.mockResolvedValueOnce(true);
    const yes = await runCliCaptured(['gc', '--manifest', p.manifest], { isTTY: true, env: { CI: '' } });
    expect(yes.code, yes.stderr).toBe(0);
    await expect(fs.stat(blobOf(p.cacheDir, cacheOnly))).rejects.toThrow();
  });

  it('item 5: folder flags and environment variables get the same checks as the manifest (exit 2, the fix)', async () => {
    const p = await scenario();
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['--host-dir', '/'], {}, /file system root/],
      [['--cache-dir', p.hostDir], {}, /overlaps/],
      [['--cache-dir', path.join(p.hostDir, 'student/v0_ja')], {}, /overlaps/],
      [['--host-dir', path.join(p.cacheDir, 'h')], {}, /overlaps/],
      [[], { MODELS_HOST_DIR: '/etc' }, /system folder/],
      [[], { MODELS_CACHE_DIR: p.hostDir }, /overlaps/],
      [['--host-dir', path.join(p.dir, 'link-to-store', 'h')], {}, /overlaps.*through a symlink/],
      [['--host-dir', path.join(p.dir, 'link-to-etc')], {}, /system folder \/etc.*link-to-etc leads there through a symlink/],
    ];
    await fs.symlink(p.cacheDir, path.join(p.dir, 'link-to-store'));
    await fs.symlink('/etc', path.join(p.dir, 'link-to-etc'));
    const before = await listFiles(p.dir);
    for (const [flags, env, msg] of cases) {
      for (const cmd of [['gc', '--dry-run'], ['gc', '--yes'], ['update', ...NO_POST, '--dry-run'], ['status', '--no-docker']]) {
        const r = await runCliCaptured([...cmd, '--manifest', p.manifest, ...flags], { env });
        expect(r.code, `${cmd.join(' ')} ${flags.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(msg);
        expect(r.stderr).toMatch(/→|hint|fix/i);
      }
    }
    expect(await listFiles(p.dir)).toEqual(before);
  });

  it('migrates the single installed.json of the previous version: what it lists stays ours', async () => {
    const p = await scenario();
    // rebuild the previous version's layout: one record, the last manifest's, at .modelmount/installed.json
    const meta = path.join(p.hostDir, '.modelmount');
    const records = await fs.readdir(path.join(meta, 'installs'));
    const mine = records.find((f) => f.startsWith('manifest.yaml'))!;
    const legacy = JSON.parse(await fs.readFile(path.join(meta, 'installs', mine), 'utf8'));
    delete legacy.released;
    await fs.writeFile(path.join(meta, 'installed.json'), JSON.stringify(legacy));
    await fs.rm(path.join(meta, 'installs'), { recursive: true });
    const dry = await gc([p.manifest], ['--dry-run']);
    expect(dry.report.kept.artifacts.find((k) => k.id === 'student/v0_ja')?.why).toContain(`in the install record of ${p.manifest}`);
    // v_old was listed only by the overwritten record: the previous version kept no trace, so it is not provably ours
    expect(dry.report.notOurs.map((n) => n.path)).toContain(path.join(p.hostDir, 'student/v_old'));
    const status = await runCliCaptured(['status', '--manifest', p.manifest, '--no-docker', '--json']);
    expect(JSON.parse(status.stdout).artifacts[0].source).toBe('mirror');
    // the next update moves the record to its per-manifest place
    expect((await runCliCaptured(['update', '--manifest', p.manifest, ...NO_POST])).code).toBe(0);
    await expect(fs.stat(path.join(meta, 'installed.json'))).rejects.toThrow();
    expect((await fs.readdir(path.join(meta, 'installs'))).some((f) => f.startsWith('manifest.yaml'))).toBe(true);
  });
});
