/**
 * Links and special files where modelmount keeps its own records, and things that used to hang:
 * - a symlinked `<hostDir>/.modelmount`, `.modelmount/tmp`, `.modelmount/state.json`, `<cache>/tmp`
 *   or `<cache>/sha256` is refused (exit 5, naming the link), nothing is written or removed
 *   through it, and gc never sweeps through it;
 * - a FIFO in a file source is refused at once and the next source is tried; a FIFO at
 *   `<hostDir>/.modelmount/state.json` is refused by `verify` instead of hanging it;
 * - a folder that cannot be created (a file in the way; /proc in test/fs-safe.test.ts) fails at once with exit 5;
 * - SIGTERM and Ctrl+C end a real run in each state, releasing its lock.
 * Runs that could hang on today's code run as child processes, killed when the test ends.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { lockPath, metaDir, storeTmpDir } from '../lib/layout.ts';
import { listFiles, manifestYaml, runCliCaptured, tempDir, tempProject, writeSourceTree, type TestArtifact } from './helpers/cli.ts';
import { BIN } from './helpers/real-cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';


const servers: FaultServer[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const ART: TestArtifact[] = [{ id: 'student/v0_ja', files: [{ path: 'model.bin', data: randomBytes(64 * 1024) }] }];

interface Child {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The real CLI in a child process (a hang must not take the test worker with it). */
function start(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  child.stderr!.on('data', (c: Buffer) => (out += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const c = start(args, env);
  const { code } = await c.exited;
  return { code, output: c.output() };
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

function mkfifo(p: string): void {
  const r = spawnSync('mkfifo', [p]);
  if (r.status !== 0) throw new Error(`mkfifo ${p} failed: ${r.stderr}`);
}

/** A file name the temp sweep takes for a dead process's leftover (removed at once). */
async function deadOwnerName(base: string): Promise<string> {
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.on('exit', r));
  const host = os.hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'host';
  return `${base}.${host}.${dead.pid}.0123456789ab.tmp`;
}

async function projectWithHttp() {
  const s = await startFaultServer({ files: Object.fromEntries(ART.flatMap((a) => a.files.map((f) => [`/${a.id}/${f.path}`, f.data]))) });
  servers.push(s);
  return tempProject(manifestYaml({ artifacts: ART, sources: [{ name: 'mirror', url: s.url }] }));
}

describe('symlinks in modelmount\'s own folders are never followed', () => {
  it('a symlinked <hostDir>/.modelmount/tmp: refused with exit 5 naming the link; nothing in its target is removed', async () => {
    const p = await projectWithHttp();
    const elsewhere = await tempDir('modelmount-elsewhere-');
    // what the temp sweep would take for a dead run's leftover, outside the host folder
    const victim = path.join(elsewhere, await deadOwnerName('precious'));
    await fs.mkdir(victim);
    await fs.writeFile(path.join(victim, 'data.txt'), 'not modelmount\'s');
    await fs.mkdir(metaDir(p.hostDir), { recursive: true });
    await fs.symlink(elsewhere, path.join(metaDir(p.hostDir), 'tmp'));

    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-smoke']);
    expect(r.code, r.stderr).toBe(ExitCode.disk);
    expect(r.stdout + r.stderr).toContain(`${path.join(metaDir(p.hostDir), 'tmp')} is a symlink`);
    expect(r.stdout + r.stderr).toMatch(/rm .*\.modelmount\/tmp/);
    expect(await fs.readFile(path.join(victim, 'data.txt'), 'utf8')).toBe('not modelmount\'s');
    expect(await fs.readdir(elsewhere)).toEqual([path.basename(victim)]);

    // gc does not sweep through it either
    const g = await runCliCaptured(['gc', '--manifest', p.manifest]);
    expect(g.code, g.stderr).toBe(ExitCode.disk);
    expect(await fs.readdir(elsewhere)).toEqual([path.basename(victim)]);
  });

  for (const sub of ['releases', 'release-sets']) {
    it(`a symlinked <hostDir>/.modelmount/${sub}: refused with exit 5 naming the link; nothing lands in its target`, async () => {
      const s = await startFaultServer({ files: Object.fromEntries(ART.flatMap((a) => a.files.map((f) => [`/${a.id}/${f.path}`, f.data]))) });
      servers.push(s);
      const compose = ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /app/models'].join('\n');
      const p = await tempProject(manifestYaml({ artifacts: ART, sources: [{ name: 'mirror', url: s.url }], extra: compose }));
      await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
      const elsewhere = await tempDir('modelmount-elsewhere-');
      await fs.mkdir(metaDir(p.hostDir), { recursive: true });
      await fs.symlink(elsewhere, path.join(metaDir(p.hostDir), sub));

      const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke']);
      expect(r.code, r.stderr).toBe(ExitCode.disk);
      expect(r.stdout + r.stderr).toContain(`${path.join(metaDir(p.hostDir), sub)} is a symlink`);
      expect(await fs.readdir(elsewhere)).toEqual([]);
    });
  }

  it('a symlinked <hostDir>/.modelmount: refused with exit 5; no state, record or temp file lands in its target', async () => {
    const p = await projectWithHttp();
    const elsewhere = await tempDir('modelmount-elsewhere-');
    await fs.mkdir(p.hostDir, { recursive: true });
    await fs.symlink(elsewhere, metaDir(p.hostDir));

    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-smoke']);
    expect(r.code, r.stderr).toBe(ExitCode.disk);
    expect(r.stderr).toContain(`${metaDir(p.hostDir)} is a symlink`);
    expect(await fs.readdir(elsewhere)).toEqual([]);
    // the artifact itself was not installed either: the run stopped before the host folder changed
    expect((await listFiles(p.hostDir)).filter((f) => !f.startsWith('.modelmount'))).toEqual([]);

    const v = await runCliCaptured(['verify', '--manifest', p.manifest]);
    expect(v.code, v.stderr).toBe(ExitCode.disk);
    expect(await fs.readdir(elsewhere)).toEqual([]);
  });

  it('a symlinked <hostDir>/.modelmount/state.json: verify refuses it (exit 5) and never writes through it', async () => {
    const p = await projectWithHttp();
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-smoke'])).code).toBe(0);
    const elsewhere = await tempDir('modelmount-elsewhere-');
    const target = path.join(elsewhere, 'shared.json');
    await fs.writeFile(target, 'someone else\'s file\n');
    const state = path.join(metaDir(p.hostDir), 'state.json');
    await fs.rm(state);
    await fs.symlink(target, state);

    const v = await runCliCaptured(['verify', '--manifest', p.manifest, '--full']);
    expect(v.code, v.stderr).toBe(ExitCode.disk);
    expect(v.stderr).toContain(`${state} is a symlink`);
    expect(await fs.readFile(target, 'utf8')).toBe('someone else\'s file\n');
    expect((await fs.lstat(state)).isSymbolicLink()).toBe(true);
  });

  it('a symlinked <cache>/tmp, <cache>/sha256 or <cache>/installs: refused with exit 5; nothing lands in the target', async () => {
    for (const sub of ['tmp', 'sha256', 'installs']) {
      const p = await projectWithHttp();
      const elsewhere = await tempDir('modelmount-elsewhere-');
      await fs.mkdir(p.cacheDir, { recursive: true });
      await fs.symlink(elsewhere, path.join(p.cacheDir, sub));
      const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-smoke']);
      expect(r.code, `${sub}: ${r.stderr}`).toBe(ExitCode.disk);
      expect(r.stdout + r.stderr).toContain(`${path.join(p.cacheDir, sub)} is a symlink`);
      expect(await listFiles(elsewhere), sub).toEqual([]);
    }
  });

  it('a symlinked <hostDir>/.modelmount/installs: update and gc refuse it (exit 5); no record lands in its target', async () => {
    const p = await projectWithHttp();
    const elsewhere = await tempDir('modelmount-elsewhere-');
    await fs.mkdir(metaDir(p.hostDir), { recursive: true });
    await fs.symlink(elsewhere, path.join(metaDir(p.hostDir), 'installs'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-smoke']);
    expect(r.code, r.stderr).toBe(ExitCode.disk);
    expect(r.stdout + r.stderr).toContain(`${path.join(metaDir(p.hostDir), 'installs')} is a symlink`);
    const g = await runCliCaptured(['gc', '--manifest', p.manifest, '--yes']);
    expect(g.code, g.stderr).toBe(ExitCode.disk);
    expect(await fs.readdir(elsewhere)).toEqual([]);
  });

  it('gc never sweeps partials through a symlinked <cache>/tmp', async () => {
    const p = await projectWithHttp();
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-smoke'])).code).toBe(0);
    const elsewhere = await tempDir('modelmount-elsewhere-');
    const old = path.join(elsewhere, `${'a'.repeat(64)}.x.1.0123456789ab.partial`);
    await fs.writeFile(old, 'someone else\'s');
    const dayAgo = new Date(Date.now() - 3 * 24 * 3600 * 1000);
    await fs.utimes(old, dayAgo, dayAgo);
    await fs.rm(storeTmpDir(p.cacheDir), { recursive: true, force: true });
    await fs.symlink(elsewhere, storeTmpDir(p.cacheDir));
    const g = await runCliCaptured(['gc', '--manifest', p.manifest]);
    expect(g.code, g.stderr).toBe(ExitCode.disk);
    expect(g.stderr).toContain(`${storeTmpDir(p.cacheDir)} is a symlink`);
    expect(await exists(old)).toBe(true);
  });
});

describe('special files and unbounded waits', () => {
  it('a FIFO in a file source is refused at once and the next source is tried', async () => {
    const dir = await tempDir();
    const fifoSrc = path.join(dir, 'fifo-src');
    const good = path.join(dir, 'good-src');
    await writeSourceTree(good, ART);
    await fs.mkdir(path.join(fifoSrc, 'student/v0_ja'), { recursive: true });
    mkfifo(path.join(fifoSrc, 'student/v0_ja/model.bin'));
    const manifest = path.join(dir, 'manifest.yaml');
    await fs.writeFile(manifest, manifestYaml({ artifacts: ART, sources: [{ name: 'fifo', url: fifoSrc }, { name: 'good', url: good }] }));

    const r = await run(['update', '--manifest', manifest, '--yes', '--no-smoke', '--json']);
    expect(r.code, r.output).toBe(0);
    const report = JSON.parse(r.output.slice(r.output.indexOf('{\n')));
    expect(report.artifacts[0].files[0].source).toBe('good');
    expect(await fs.readFile(path.join(dir, 'host/student/v0_ja/model.bin'))).toEqual(ART[0]!.files[0]!.data);
  });

  it('a FIFO as the only source: exit 3 at once, saying it is not a regular file', async () => {
    const dir = await tempDir();
    const fifoSrc = path.join(dir, 'fifo-src');
    await fs.mkdir(path.join(fifoSrc, 'student/v0_ja'), { recursive: true });
    mkfifo(path.join(fifoSrc, 'student/v0_ja/model.bin'));
    const manifest = path.join(dir, 'manifest.yaml');
    await fs.writeFile(manifest, manifestYaml({ artifacts: ART, sources: [{ name: 'fifo', url: fifoSrc }] }));
    const r = await run(['update', '--manifest', manifest, '--yes', '--no-smoke']);
    expect(r.code, r.output).toBe(ExitCode.sources);
    expect(r.output).toContain('is not a regular file (a FIFO)');
  });

  it('a FIFO at <hostDir>/.modelmount/state.json: verify refuses it (exit 5) instead of hanging', async () => {
    const p = await projectWithHttp();
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-smoke'])).code).toBe(0);
    const state = path.join(metaDir(p.hostDir), 'state.json');
    await fs.rm(state);
    mkfifo(state);
    const r = await run(['verify', '--manifest', p.manifest]);
    expect(r.code, r.output).toBe(ExitCode.disk);
    expect(r.output).toContain(`${state} is not a regular file (a FIFO)`);
  });

  it('a host folder or store that cannot be created (a file in the way): exit 5 at once naming it, not an internal error', async () => {
    // (under /proc Node's own recursive mkdir spun forever; the folder checks now refuse /proc with
    // exit 2 first, and lib/fs-safe.ts's makeDirs is tested on /proc in test/fs-safe.test.ts)
    for (const flag of ['--host-dir', '--cache-dir']) {
      const p = await projectWithHttp();
      await fs.writeFile(path.join(p.dir, 'a-file'), '');
      const where = path.join(p.dir, 'a-file', 'folder');
      const r = await run(['update', '--manifest', p.manifest, flag, where, '--yes', '--no-smoke']);
      expect(r.code, `${flag}: ${r.output}`).toBe(ExitCode.disk);
      expect(r.output).toContain(`Cannot create ${where}: ENOTDIR`);
      expect(r.output).not.toContain('Internal error');
    }
  });
});

describe('SIGTERM and Ctrl+C end a real run, releasing the lock', () => {
  /** Start `update` against a server that stalls, wait until the run is in the given state, signal it. */
  async function signalDuring(state: 'headers' | 'body' | 'lock', signal: NodeJS.Signals) {
    const s = await startFaultServer({ files: { '/student/v0_ja/model.bin': ART[0]!.files[0]!.data } });
    servers.push(s);
    if (state === 'headers') s.fault('/student/v0_ja/model.bin', { stallBeforeHeadersMs: Infinity }, 10);
    if (state === 'body') s.fault('/student/v0_ja/model.bin', { stallAfter: 1000, stallMs: Infinity }, 10);
    const p = await tempProject(manifestYaml({ artifacts: ART, sources: [{ name: 'mirror', url: s.url }] }));
    let holder: Child | undefined;
    if (state === 'lock') {
      // another run holds the host folder's lock (stalled in its download)
      s.fault('/student/v0_ja/model.bin', { stallBeforeHeadersMs: Infinity }, 10);
      holder = start(['update', '--manifest', p.manifest, '--yes', '--no-smoke']);
      while (s.requests.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    const c = start(['update', '--manifest', p.manifest, '--yes', '--no-smoke']);
    if (state === 'lock') {
      while (!c.output().includes('Waiting for another modelmount run')) await new Promise((r) => setTimeout(r, 20));
    } else {
      while (s.requests.length === 0 || (state === 'body' && !(s.requests[0]!.bytesSent! > 0))) await new Promise((r) => setTimeout(r, 20));
    }
    c.child.kill(signal);
    const end = await c.exited;
    if (holder) {
      holder.child.kill(signal);
      await holder.exited;
    }
    return { end, output: c.output(), p };
  }

  for (const [state, signal] of [
    ['headers', 'SIGTERM'],
    ['body', 'SIGTERM'],
    ['body', 'SIGINT'],
    ['lock', 'SIGTERM'],
  ] as const) {
    it(`${signal} while ${state === 'lock' ? 'waiting for the lock' : `waiting for the ${state}`}: the run ends (130) and its lock is gone`, async () => {
      const { end, output, p } = await signalDuring(state, signal);
      expect(end.code, output).toBe(130);
      expect(output).toContain('Interrupted');
      expect(await exists(lockPath(p.hostDir))).toBe(false);
      expect(await exists(lockPath(p.cacheDir))).toBe(false);
    });
  }
});

describe('SIGTERM when the run is blocked in the kernel', () => {
  it('a read that never returns (the manifest is a FIFO nobody writes): the run still ends after SIGTERM', async () => {
    const dir = await tempDir();
    const manifest = path.join(dir, 'models.yaml');
    mkfifo(manifest);
    const c = start(['update', '--manifest', manifest, '--yes', '--no-smoke']);
    // wait until the run has opened the FIFO (its signal handlers are in place by then), then
    // open it for writing without ever writing: the run's read blocks in the kernel. Today the
    // FIFO is refused at once (test/fault-special-files.test.ts): then the run has already ended.
    let writer: fs.FileHandle | undefined;
    while (!writer && c.child.exitCode === null) {
      writer = await fs.open(manifest, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK).catch(() => undefined);
      if (!writer) await new Promise((r) => setTimeout(r, 20));
    }
    c.child.kill('SIGTERM');
    const end = await c.exited;
    await writer?.close();
    // ended by SIGTERM's default action after the grace period (or at once, if the FIFO is refused)
    if (end.signal === null) expect(end.code, c.output()).toBeGreaterThan(0);
    else expect(end.signal).toBe('SIGTERM');
  });
});

describe('a socket in a file source', () => {
  it('is refused at once (not a regular file) and the next source is tried', async () => {
    const dir = await tempDir();
    const sockSrc = path.join(dir, 's');
    const good = path.join(dir, 'good-src');
    await writeSourceTree(good, ART);
    await fs.mkdir(path.join(sockSrc, 'student/v0_ja'), { recursive: true });
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(path.join(sockSrc, 'student/v0_ja/model.bin'), r));
    try {
      const manifest = path.join(dir, 'manifest.yaml');
      await fs.writeFile(manifest, manifestYaml({ artifacts: ART, sources: [{ name: 'sock', url: sockSrc }, { name: 'good', url: good }] }));
      const r = await run(['update', '--manifest', manifest, '--yes', '--no-smoke', '--json']);
      expect(r.code, r.output).toBe(0);
      expect(JSON.parse(r.output.slice(r.output.indexOf('{\n'))).artifacts[0].files[0].source).toBe('good');
    } finally {
      server.close();
    }
  });
});

describe('manifest add on a symlinked manifest', () => {
  it('writes through the link: the link stays, its target gets the entry (atomically, in the target\'s folder)', async () => {
    const dir = await tempDir();
    const shared = path.join(dir, 'shared');
    await fs.mkdir(shared);
    const target = path.join(shared, 'models.yaml');
    await fs.writeFile(target, manifestYaml({ artifacts: ART, sources: [{ name: 'share', url: 'origin' }] }));
    const link = path.join(dir, 'models.yaml');
    await fs.symlink(path.relative(dir, target), link);
    const folder = path.join(dir, 'new-model');
    await fs.mkdir(folder);
    await fs.writeFile(path.join(folder, 'weights.bin'), randomBytes(1000));

    const r = await runCliCaptured(['manifest', 'add', folder, '--id', 'student/v1_ja', '--manifest', link]);
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.lstat(link)).isSymbolicLink()).toBe(true);
    expect(await fs.readFile(target, 'utf8')).toContain('id: student/v1_ja');
    expect((await fs.readdir(shared)).sort()).toEqual(['models.yaml']);
    expect((await fs.readdir(dir)).sort()).toEqual(['models.yaml', 'new-model', 'shared']);
  });
});
