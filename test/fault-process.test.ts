/**
 * Process-level faults:
 * - `kill -9` of a real `node bin/modelmount.mjs update` at random points (fixed seed) of a
 *   multi-file download from a slow (dripping) server: the host folder never holds a partial or
 *   unverified file, and the next run completes without fetching again what was already verified
 *   (files already in the store: no request at all; partials: resumed from their length on disk).
 * - Disk full, on small tmpfs mounts (root only; skipped with a message otherwise): exit 5 naming
 *   the space, temp files removed, the previous install untouched — in the pre-flight check, when
 *   the store fills up mid-download, and when the host folder fills up mid-copy.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { blobPath, hostFilePath, storeTmpDir } from '../lib/layout.ts';
import { cliEnv, listFiles, manifestYaml, runCliCaptured, tempDir, tempProject, type TestArtifact } from './helpers/cli.ts';
import { expectCleanState, sha256, type ExpectedFile } from './helpers/fault-state.ts';
import { BIN } from './helpers/real-cli.ts';
import { prng, randomData } from './helpers/seeded.ts';
import { canMount, tmpfs } from './helpers/tmpfs.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';
import { waitFor } from './helpers/wait.ts';


const servers: FaultServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function artifactsOf(files: ExpectedFile[]): TestArtifact[] {
  const ids = [...new Set(files.map((f) => f.id))];
  return ids.map((id) => ({ id, files: files.filter((f) => f.id === id).map((f) => ({ path: f.path, data: f.data })) }));
}

async function server(files: ExpectedFile[]): Promise<FaultServer> {
  const s = await startFaultServer({ files: Object.fromEntries(files.map((f) => [`/${f.id}/${f.path}`, f.data])) });
  servers.push(s);
  return s;
}

const urlOf = (f: ExpectedFile) => `/${f.id}/${f.path}`;

describe('kill -9 during a multi-file download', () => {
  const rnd = prng(20261125);
  const FILES: ExpectedFile[] = [
    { id: 'student/v0_ja', path: 'model.safetensors', data: randomData(3 * 1024 * 1024, rnd) },
    { id: 'student/v0_ja', path: 'config.json', data: Buffer.from('{"lang":"ja"}\n') },
    { id: 'student/v0_en', path: 'model.safetensors', data: randomData(2 * 1024 * 1024, rnd) },
    { id: 'teacher/v0', path: 'weights/part-1.bin', data: randomData(1024 * 1024 + 17, rnd) },
  ];
  const total = FILES.reduce((s, f) => s + f.data.length, 0);
  // fixed seed: the same five kill points every run, spread over the whole transfer
  const points = Array.from({ length: 5 }, (_, i) => Math.min(0.97, (i + rnd()) / 5));

  for (const [i, point] of points.entries()) {
    it(`kill -9 after ~${Math.round(point * 100)}% of the bytes (point ${i + 1}): nothing unverified visible, the next run resumes`, async () => {
      const s = await server(FILES);
      // a slow server makes the timing controllable: 32 KiB every 10 ms per connection
      for (const f of FILES) s.fault(urlOf(f), { dripBytes: 32 * 1024, dripIntervalMs: 10 }, 100);
      const p = await tempProject(manifestYaml({ artifacts: artifactsOf(FILES), sources: [{ name: 'mirror', url: s.url }] }));
      const child = spawn(process.execPath, [BIN, 'update', '--manifest', p.manifest, '--yes', '--include-optional', '--jobs', '2'], {
        env: cliEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c));
      child.stderr.on('data', (c: Buffer) => (output += c));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const sent = () => s.requests.reduce((n, r) => n + (r.bytesSent ?? 0), 0);
      let done: number | null | undefined;
      void exited.then((c) => (done = c));
      await waitFor(() => done !== undefined || sent() >= point * total, `the server to send ${Math.round(point * 100)}% of the bytes`, { everyMs: 2 });
      child.kill('SIGKILL');
      const code = await exited;
      expect(code, `the run ended before the kill point:\n${output}`).toBeNull();

      // 1. the host folder holds only complete, verified files (or nothing); the store only verified
      //    blobs and true-prefix partials. (A temp link in <hostDir>/.modelmount/tmp may survive a
      //    kill -9 there; it is outside every mounted artifact folder and the next run removes it.)
      const present = new Set((await listFiles(p.hostDir)).filter((x) => !x.startsWith('.modelmount')));
      await expectCleanState(p, FILES, { installed: (f) => present.has(`${f.id}/${f.path}`), allowPartials: true, allowHostTemps: true });

      // 2. what the killed run left: verified blobs and partials
      const inStore = new Set<string>();
      for (const f of FILES) {
        try {
          await fs.access(blobPath(p.cacheDir, sha256(f.data)));
          inStore.add(urlOf(f));
        } catch {
          // not finished
        }
      }
      const partialLength = new Map<string, number>();
      for (const name of await fs.readdir(storeTmpDir(p.cacheDir)).catch(() => [] as string[])) {
        const f = FILES.find((x) => name.startsWith(sha256(x.data)));
        if (f && name.endsWith('.partial')) partialLength.set(urlOf(f), (await fs.stat(path.join(storeTmpDir(p.cacheDir), name))).size);
      }

      // 3. the next run completes and fetches nothing it had verified, resuming partials where they end
      s.setFaults({});
      const before = s.requests.length;
      // The killed run's lock is reclaimed once stale (lib/lock/, 20 s): the first kill point goes
      // through that for real; the others skip the lock to keep the suite fast (its recovery is
      // tested in test/lock.test.ts).
      const env = i === 0 ? {} : { MODELMOUNT_UNSAFE_NO_LOCK: '1' };
      const again = await runCliCaptured(['update', '--manifest', p.manifest, '--include-optional', '--json'], { env });
      expect(again.code, again.stderr).toBe(0);
      const later = s.requests.slice(before);
      for (const f of FILES) {
        const reqs = later.filter((r) => r.path === urlOf(f));
        if (inStore.has(urlOf(f))) {
          expect(reqs, `${urlOf(f)} was verified before the kill: not fetched again`).toHaveLength(0);
        } else if ((partialLength.get(urlOf(f)) ?? 0) === f.data.length) {
          // killed between the last write and the move into the store: re-hashed, nothing to fetch
          expect(reqs, `${urlOf(f)} was complete in its partial: not fetched again`).toHaveLength(0);
        } else if ((partialLength.get(urlOf(f)) ?? 0) > 0) {
          expect(reqs[0]?.headers.range, `${urlOf(f)} resumes where its partial ends`).toBe(`bytes=${partialLength.get(urlOf(f))}-`);
        }
      }
      const report = JSON.parse(again.stdout);
      const resumed = [...partialLength.values()].reduce((a, b) => a + b, 0);
      expect(report.totals.bytesResumed).toBe(resumed);
      expect(report.totals.bytesTransferred).toBe(
        FILES.filter((f) => !inStore.has(urlOf(f))).reduce((n, f) => n + f.data.length - (partialLength.get(urlOf(f)) ?? 0), 0),
      );
      await expectCleanState(p, FILES, { installed: true });
    });
  }
});

describe('leftovers of killed runs in the host folder', () => {
  it('the next run removes a dead process\'s temp files in <hostDir>/.modelmount/tmp, not a live one\'s or a fresh foreign one', async () => {
    const files: ExpectedFile[] = [{ id: 'a', path: 'model.bin', data: Buffer.from('verified bytes\n') }];
    const s = await server(files);
    const p = await tempProject(manifestYaml({ artifacts: artifactsOf(files), sources: [{ name: 'mirror', url: s.url }] }));
    const tmp = path.join(p.hostDir, '.modelmount', 'tmp');
    await fs.mkdir(tmp, { recursive: true });
    const dead = spawn(process.execPath, ['-e', '0']);
    const deadPid = dead.pid!;
    await new Promise((r) => dead.on('exit', r));
    const live = spawn('sleep', ['30']);
    const host = os.hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'host';
    const names = {
      dead: `model.bin.${host}.${deadPid}.0123456789ab.tmp`,
      live: `model.bin.${host}.${live.pid}.0123456789ab.tmp`,
      foreign: 'model.bin.other-host.4242.0123456789ab.tmp',
    };
    try {
      for (const n of Object.values(names)) await fs.writeFile(path.join(tmp, n), 'half a copy');
      const r = await runCliCaptured(['update', '--manifest', p.manifest]);
      expect(r.code, r.stderr).toBe(0);
      expect((await fs.readdir(tmp)).sort()).toEqual([names.foreign, names.live].sort());
    } finally {
      live.kill('SIGKILL');
    }
    await fs.rm(path.join(tmp, names.live));
    await fs.rm(path.join(tmp, names.foreign));
    await expectCleanState(p, files, { installed: true });
  });
});

// ───────────────────────────── disk full ─────────────────────────────

if (!canMount) {
  process.stderr.write('test/fault-process.test.ts: disk-full tests skipped: they mount small tmpfs filesystems and need root (CI runs as root).\n');
}

async function freeBytes(dir: string): Promise<number> {
  const st = await fs.statfs(dir);
  return st.bavail * st.bsize;
}

/** Fill `dir`'s filesystem until only `leave` bytes are free. */
async function fill(dir: string, leave: number): Promise<void> {
  const free = await freeBytes(dir);
  const fh = await fs.open(path.join(dir, 'filler.bin'), 'w');
  try {
    const chunk = Buffer.alloc(1024 * 1024);
    let left = free - leave;
    while (left > 0) {
      const n = Math.min(chunk.length, left);
      try {
        await fh.write(chunk, 0, n);
      } catch {
        break;
      }
      left -= n;
    }
  } finally {
    await fh.close();
  }
}

describe.skipIf(!canMount)('disk full (tmpfs)', () => {
  const rnd = prng(7);
  const ID = 'student/v0_ja';
  const V1: ExpectedFile[] = [
    { id: ID, path: 'model.safetensors', data: randomData(1024 * 1024, rnd) },
    { id: ID, path: 'config.json', data: Buffer.from('{"v":1}\n') },
  ];
  const V2: ExpectedFile[] = [
    { id: ID, path: 'model.safetensors', data: randomData(20 * 1024 * 1024, rnd) },
    { id: ID, path: 'config.json', data: Buffer.from('{"v":2}\n') },
  ];
  const previous = new Map(V1.map((f) => [`${f.id}/${f.path}`, f.data]));

  /** host and store in `root` (or the store elsewhere); v1 installed, the manifest switched to v2 */
  async function installedV1(s: FaultServer, dirs: { hostDir: string; cacheDir: string }) {
    const project = await tempProject('');
    const write = (files: ExpectedFile[]) =>
      fs.writeFile(project.manifest, manifestYaml({ artifacts: artifactsOf(files), sources: [{ name: 'mirror', url: s.url }], hostDir: dirs.hostDir, cacheDir: dirs.cacheDir }));
    for (const f of V1) s.setFile(urlOf(f), f.data);
    await write(V1);
    const first = await runCliCaptured(['update', '--manifest', project.manifest]);
    expect(first.code, first.stderr).toBe(0);
    for (const f of V2) s.setFile(urlOf(f), f.data);
    await write(V2);
    return project.manifest;
  }

  it('pre-flight: not enough room for the new version → exit 5 naming the space, before any byte, v1 untouched', async () => {
    const root = await tmpfs(80); // 20 MiB + the 64 MiB headroom do not fit
    const dirs = { hostDir: path.join(root, 'host'), cacheDir: path.join(root, 'cache') };
    const s = await server([]);
    const manifest = await installedV1(s, dirs);
    const before = s.requests.length;
    const r = await runCliCaptured(['update', '--manifest', manifest]);
    expect(r.code).toBe(ExitCode.disk);
    expect(r.stderr).toMatch(/Not enough free space/);
    expect(r.stderr).toMatch(/20\.0 MiB/); // what it needs
    expect(r.stderr).toMatch(/free/);
    expect(s.requests.slice(before).filter((q) => q.path.endsWith('model.safetensors'))).toHaveLength(0);
    await expectCleanState(dirs, V2, { installed: () => false, previous });
  });

  it('the store fills up mid-download → exit 5 (ENOSPC) naming the space, the partial removed, v1 untouched', async () => {
    const root = await tmpfs(100); // 20 MiB + 64 MiB headroom fit: the pre-flight check passes
    const dirs = { hostDir: path.join(root, 'host'), cacheDir: path.join(root, 'cache') };
    const s = await server([]);
    const manifest = await installedV1(s, dirs);
    s.fault(urlOf(V2[0]!), { dripBytes: 64 * 1024, dripIntervalMs: 5 });
    const run = runCliCaptured(['update', '--manifest', manifest, '--json']);
    // once bytes are arriving, another process eats the disk
    await waitFor(async () => {
      const partials = await fs.readdir(storeTmpDir(dirs.cacheDir)).catch(() => [] as string[]);
      return partials.length > 0 && (await fs.stat(path.join(storeTmpDir(dirs.cacheDir), partials[0]!)).catch(() => ({ size: 0 }))).size > 1024 * 1024;
    }, 'a partial of more than 1 MiB in the store', { everyMs: 5 });
    await fill(root, 256 * 1024);
    const r = await run;
    expect(r.code, r.stderr).toBe(ExitCode.disk);
    const doc = JSON.parse(r.stdout);
    expect(JSON.stringify(doc)).toContain('ENOSPC');
    expect(r.stderr + JSON.stringify(doc)).toMatch(/No space left/);
    expect(r.stderr + JSON.stringify(doc)).toMatch(/\d+(\.\d+)? (MiB|KiB|GiB)/); // names the space
    await fs.rm(path.join(root, 'filler.bin'));
    // an artifact is installed whole or not at all: the new config.json waits with the model (v1 stays whole)
    await expectCleanState(dirs, V2, { installed: () => false, previous });
  });

  it('the host folder fills up mid-copy (store on another filesystem) → exit 5, no temp file, v1 untouched', async () => {
    const hostRoot = await tmpfs(100);
    const cacheDir = path.join(await tempDir(), 'cache');
    const dirs = { hostDir: path.join(hostRoot, 'host'), cacheDir };
    const s = await server([]);
    const manifest = await installedV1(s, dirs);
    s.fault(urlOf(V2[0]!), { dripBytes: 256 * 1024, dripIntervalMs: 5 });
    const run = runCliCaptured(['update', '--manifest', manifest, '--json']);
    await waitFor(async () => (await fs.readdir(storeTmpDir(cacheDir)).catch(() => [] as string[])).length > 0, 'a partial in the store', { everyMs: 5 });
    await fill(hostRoot, 2 * 1024 * 1024); // the pre-flight check has passed; now the copy cannot fit
    const r = await run;
    expect(r.code, r.stderr).toBe(ExitCode.disk);
    expect(r.stderr + r.stdout).toMatch(/No space left/);
    await fs.rm(path.join(hostRoot, 'filler.bin'));
    // an artifact is installed whole or not at all: the new config.json waits with the model (v1 stays whole)
    await expectCleanState(dirs, V2, { installed: () => false, previous });
    // the verified blob is in the store: once there is room, the next run only copies it
    const before = s.requests.length;
    const again = await runCliCaptured(['update', '--manifest', manifest]);
    expect(again.code, again.stderr).toBe(0);
    expect(s.requests.slice(before)).toHaveLength(0);
    await expectCleanState(dirs, V2, { installed: true });
    expect(sha256(await fs.readFile(hostFilePath(dirs.hostDir, ID, 'model.safetensors')))).toBe(sha256(V2[0]!.data));
  });
});
