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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GcReport } from '../lib/commands/gc-command.ts';
import { blobPath, hostFilePath, hostStatePath, lockPath, storeStatePath } from '../lib/layout.ts';
import { statIdentity } from '../lib/verify/state-cache.ts';
import { withRunLock } from '../lib/lock.ts';
import { listFiles, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, sha256, tempProject, type TestArtifact } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

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
 *   old.yaml (student/v0_ja + student/v_old) installed, then manifest.yaml (ja, en, optional teacher)
 *   installed: the install record now lists ja and en only; v_old is on disk, referenced by nothing.
 *   other/v9 was only warmed into the store by old2.yaml.
 */
async function scenario() {
  const sources = [{ name: 'mirror', url: server.url }];
  const p = await tempProject(manifestYaml({ artifacts: current, sources }));
  const oldManifest = path.join(p.dir, 'old.yaml');
  await fs.writeFile(oldManifest, manifestYaml({ artifacts: [current[0]!, old], sources }));
  const otherManifest = path.join(p.dir, 'other.yaml');
  await fs.writeFile(otherManifest, manifestYaml({ artifacts: [cacheOnly], sources }));
  for (const [m, args] of [
    [oldManifest, ['update', ...NO_POST]],
    [p.manifest, ['update', ...NO_POST]],
    [otherManifest, ['warm']],
  ] as const) {
    const r = await runCliCaptured([args[0], '--manifest', m, ...args.slice(1)]);
    expect(r.code, r.stderr).toBe(0);
  }
  return { ...p, oldManifest, otherManifest };
}

const blobOf = (cacheDir: string, a: TestArtifact, i = 0) => blobPath(cacheDir, sha256(a.files[i]!.data));

describe('gc', () => {
  it('--dry-run lists exactly what a real run removes, with the bytes freed; referenced blobs and folders stay', async () => {
    const p = await scenario();
    const before = await listFiles(p.dir);
    const dry = await gc([p.manifest], ['--dry-run']);
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
    expect(dry.report.kept.artifacts.find((k) => k.id === 'student/v0_ja')!.why).toEqual([`in ${p.manifest}`, 'in the install record']);

    const real = await gc([p.manifest]);
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
    const r = await gc([p.manifest, p.otherManifest], ['--dry-run']);
    expect(r.report.manifests).toEqual([p.manifest, p.otherManifest]);
    expect(r.report.removals.map((x) => x.id ?? x.sha256).sort()).toEqual(['student/v_old', sha256(old.files[0]!.data)].sort());
    const listed = await runCliCaptured(['gc', '--manifest', `${p.manifest},${p.oldManifest},${p.otherManifest}`, '--dry-run', '--json']);
    expect((JSON.parse(listed.stdout) as GcReport).removals).toEqual([]);
  });

  it('never removes what the install record or the Compose override references', async () => {
    const p = await scenario();
    // v_old back in the install record (as if the old manifest were still the installed one)
    const recordPath = path.join(p.hostDir, '.modelmount/installed.json');
    const record = JSON.parse(await fs.readFile(recordPath, 'utf8')) as { artifacts: Record<string, unknown> };
    record.artifacts['student/v_old'] = { files: [{ path: 'model.bin', size: 40_000, sha256: sha256(old.files[0]!.data) }], source: 'mirror', installedAt: new Date().toISOString() };
    await fs.writeFile(recordPath, JSON.stringify(record));
    // a folder nothing lists, but the current override mounts
    await fs.mkdir(path.join(p.hostDir, 'extra/mounted'), { recursive: true });
    await fs.writeFile(path.join(p.hostDir, 'extra/mounted/w.bin'), 'x');
    await fs.mkdir(path.join(p.hostDir, 'extra/stray'), { recursive: true });
    await fs.writeFile(path.join(p.hostDir, 'extra/stray/w.bin'), 'y');
    const withCompose = path.join(p.dir, 'compose-manifest.yaml');
    await fs.writeFile(
      withCompose,
      manifestYaml({
        artifacts: current,
        sources: [{ name: 'mirror', url: server.url }],
        extra: 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: compose.models.yaml\n  containerDir: /models',
      }),
    );
    await fs.writeFile(
      path.join(p.dir, 'compose.models.yaml'),
      `services:\n  worker:\n    volumes:\n      - type: bind\n        source: ${path.join(p.hostDir, 'extra/mounted')}\n        target: /models/extra\n        read_only: true\n`,
    );
    const r = await gc([withCompose]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.report.removals.map((x) => x.id ?? x.sha256).sort()).toEqual(['extra/stray', sha256(cacheOnly.files[0]!.data)].sort());
    await fs.stat(path.join(p.hostDir, 'student/v_old/model.bin'));
    await fs.stat(blobOf(p.cacheDir, old));
    await fs.stat(path.join(p.hostDir, 'extra/mounted/w.bin'));
    expect(r.report.kept.artifacts.find((k) => k.id === 'extra/mounted')?.why).toEqual(['mounted by the Compose override']);
    expect(r.report.kept.artifacts.find((k) => k.id === 'student/v_old')?.why).toEqual(['in the install record']);
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
      [`partial ${path.basename(stale)}`, `tmp ${leftover}`].sort(),
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
      const p = await tempProject(manifestYaml({ artifacts: [keep], sources }));
      const both = path.join(p.dir, 'both.yaml');
      await fs.writeFile(both, manifestYaml({ artifacts: [keep, gone], sources }));
      for (const m of [both, p.manifest]) {
        const r = await runCliCaptured(['update', '--manifest', m, ...NO_POST]);
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
      const dry = await gc([p.manifest], ['--dry-run', '--no-wait']);
      expect(dry.code).toBe(0);
      expect(dry.report.removals.length).toBe(3);
    } finally {
      release();
      await held;
    }
    await expect(fs.stat(lockPath(p.cacheDir))).rejects.toThrow();
  });
});
