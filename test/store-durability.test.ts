/**
 * Durable before the switch: the store folders that got new blobs are fsynced once per folder
 * (not once per blob), and before any file of an artifact is renamed into the host folder.
 * fsyncDir is observed through a module mock (the real one still runs).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const log: string[] = [];
/** fsyncDir waits for this (a slow disk) */
let gate: Promise<void> = Promise.resolve();
vi.mock('../lib/fs-atomic.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../lib/fs-atomic.ts')>();
  return {
    ...real,
    fsyncDir: async (dir: string) => {
      log.push(`fsync ${dir}`);
      await gate;
      await real.fsyncDir(dir);
      log.push(`synced ${dir}`);
    },
  };
});

const { blobPath, hostFilePath, hostStatePath } = await import('../lib/layout.ts');
const { createHttpSource } = await import('../lib/sources/http/source.ts');
const { Store } = await import('../lib/store/store.ts');
const { Installer } = await import('../lib/update/installer.ts');
const { StateCache } = await import('../lib/verify/state-cache.ts');
const { sha256, tempDir } = await import('./helpers/cli.ts');
const { startFaultServer } = await import('./helpers/with-server.ts');
type PlannedFile = import('../lib/plan.ts').PlannedFile;

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  log.length = 0;
});

const A = 'student/v0_ja';

describe('store folders fsynced once, before the switch', () => {
  it('blobs in the same store folder cost one fsync of it, made before the first host file is renamed in', async () => {
    // three files; two whose sha256 start with the same two hex digits share a store folder
    const files: { path: string; data: Buffer }[] = [];
    const byShard = new Map<string, Buffer[]>();
    while (![...byShard.values()].some((l) => l.length >= 2)) {
      const d = randomBytes(3000);
      const shard = sha256(d).slice(0, 2);
      byShard.set(shard, [...(byShard.get(shard) ?? []), d]);
    }
    const pair = [...byShard.values()].find((l) => l.length >= 2)!.slice(0, 2);
    files.push({ path: 'a.bin', data: pair[0]! }, { path: 'b.bin', data: pair[1]! }, { path: 'sub/c.bin', data: randomBytes(5000) });
    const s = await startFaultServer({ files: Object.fromEntries(files.map((f) => [`/${A}/${f.path}`, f.data])) });
    servers.push(s);
    const cacheDir = await tempDir();
    const hostDir = await tempDir();
    const store = await Store.open(cacheDir);
    const hostCache = await StateCache.load(hostStatePath(hostDir), 'host');
    const installer = new Installer({ store, hostDir, sources: [createHttpSource({ name: 'mirror', kind: 'http', base: s.url })], jobs: 2, hostCache });
    const planned = (f: { path: string; data: Buffer }): PlannedFile => ({
      artifactId: A, path: f.path, size: f.data.length, sha256: sha256(f.data), action: 'fetch', via: 'http', host: 'missing', reason: 'test',
    });
    for (const f of files) expect((await installer.installFile(planned(f))).status).toBe('ok');
    const shardDirs = [...new Set(files.map((f) => path.dirname(blobPath(cacheDir, sha256(f.data)))))];
    expect(shardDirs.length).toBeLessThan(files.length);
    expect(log.filter((l) => shardDirs.some((d) => l === `fsync ${d}`))).toEqual([]); // nothing yet: deferred

    // the first host file's rename is seen as its folder's fsync after the switch; the store's come first
    const watchRename = fs.rename;
    const spy = vi.spyOn(fs, 'rename').mockImplementation(async (from, to) => {
      log.push(`rename ${String(to)}`);
      return watchRename(from, to);
    });
    try {
      expect(await installer.finishArtifact(A, true)).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
    const firstRename = log.findIndex((l) => l.startsWith('rename '));
    expect(firstRename).toBeGreaterThan(0);
    for (const d of shardDirs) expect(log.slice(0, firstRename).filter((l) => l === `fsync ${d}`)).toHaveLength(1);
    for (const f of files) expect(sha256(await fs.readFile(hostFilePath(hostDir, A, f.path)))).toBe(sha256(f.data));
    // nothing left to sync: save() adds no second fsync of those folders
    await store.save();
    for (const d of shardDirs) expect(log.filter((l) => l === `fsync ${d}`)).toHaveLength(1);
  });

  it('an artifact switched while another still fsyncs the folders waits for those fsyncs too', async () => {
    const data = randomBytes(4000);
    const s = await startFaultServer({ files: { [`/${A}/x.bin`]: data } });
    servers.push(s);
    const cacheDir = await tempDir();
    const store = await Store.open(cacheDir);
    const source = createHttpSource({ name: 'mirror', kind: 'http', base: s.url });
    await store.fetch({ file: { path: 'x.bin', size: data.length, sha256: sha256(data) }, artifactId: A, sources: [source] });
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    try {
      const first = store.syncNewBlobs(); // takes the folder, its fsync is slow
      let secondDone = false;
      const second = store.syncNewBlobs().then(() => (secondDone = true)); // finds nothing left to take
      await new Promise((r) => setTimeout(r, 50));
      expect(secondDone).toBe(false); // it must not report the names durable yet
      open();
      await Promise.all([first, second]);
      expect(log.filter((l) => l.startsWith('synced '))).toEqual([`synced ${path.dirname(blobPath(cacheDir, sha256(data)))}`]);
    } finally {
      open();
      gate = Promise.resolve();
    }
  });
});
