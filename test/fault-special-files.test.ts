/**
 * Files the user points at, and the lock's holder.json, that are not regular files: a FIFO (or a
 * socket) as the manifest, as a Compose file or as `<dir>/.modelmount.lock/holder.json` is refused at
 * once with its own exit status (2 for the manifest, 7 for a Compose file, 5 for the lock's
 * holder.json) instead of blocking the run until a signal ends it.
 * Runs that could hang on older code run as child processes, killed when the test ends.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { lockPath } from '../lib/layout.ts';
import { manifestYaml, tempDir, writeSourceTree, type TestArtifact } from './helpers/cli.ts';
import { BIN } from './helpers/real-cli.ts';


const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const ART: TestArtifact[] = [{ id: 'student/v0_ja', env: 'STUDENT_JA_DIR', files: [{ path: 'model.bin', data: randomBytes(4096) }] }];

/** The real CLI in a child process (a hang must not take the test worker with it). */
function run(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  child.stderr!.on('data', (c: Buffer) => (out += c));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, output: out })));
}

function mkfifo(p: string): void {
  const r = spawnSync('mkfifo', [p]);
  if (r.status !== 0) throw new Error(`mkfifo ${p} failed: ${r.stderr}`);
}

/** A project with a file source, a Compose file and an override; `composeFile` is what compose.files names. */
async function project(): Promise<{ dir: string; manifest: string; compose: string; hostDir: string }> {
  const dir = await tempDir();
  await writeSourceTree(path.join(dir, 'src'), ART);
  const manifest = path.join(dir, 'manifest.yaml');
  const extra = ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /app/models'].join('\n');
  await fs.writeFile(manifest, manifestYaml({ artifacts: ART, sources: [{ name: 'folder', url: path.join(dir, 'src') }], extra }));
  const compose = path.join(dir, 'compose.yaml');
  await fs.writeFile(compose, 'services:\n  worker:\n    image: busybox\n');
  return { dir, manifest, compose, hostDir: path.join(dir, 'host') };
}

describe('a manifest that is not a regular file', () => {
  it('a FIFO nobody writes: refused at once, exit 2, for every command that reads it', async () => {
    const dir = await tempDir();
    const manifest = path.join(dir, 'models.yaml');
    mkfifo(manifest);
    for (const args of [['update', '--yes', '--no-smoke'], ['status'], ['verify'], ['manifest', 'check'], ['gc', '--dry-run']]) {
      const r = await run([...args, '--manifest', manifest]);
      expect(r.signal, `${args[0]}: ${r.output}`).toBeNull();
      expect(r.code, `${args[0]}: ${r.output}`).toBe(ExitCode.usage);
      expect(r.output).toContain(`The manifest ${manifest} is not a regular file (a FIFO)`);
      expect(r.output).not.toContain('Internal error');
    }
  });

  it('a socket: refused at once, exit 2', async () => {
    const dir = await tempDir();
    const manifest = path.join(dir, 'models.yaml');
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(manifest, r));
    try {
      const r = await run(['manifest', 'check', '--manifest', manifest]);
      expect(r.code, r.output).toBe(ExitCode.usage);
      expect(r.output).toContain('is not a regular file (a socket)');
    } finally {
      server.close();
    }
  });
});

describe('a Compose file that is not a regular file', () => {
  it('a FIFO among compose.files: compose and update refuse it at once, exit 7, naming it', async () => {
    const p = await project();
    await fs.rm(p.compose);
    mkfifo(p.compose);
    for (const args of [['update', '--yes', '--no-smoke'], ['compose']]) {
      const r = await run([...args, '--manifest', p.manifest]);
      expect(r.signal, `${args[0]}: ${r.output}`).toBeNull();
      if (/not validated|No Compose/i.test(r.output)) return; // no Compose on this machine: nothing runs Compose on the file
      expect(r.code, `${args[0]}: ${r.output}`).toBe(ExitCode.compose);
      expect(r.output).toContain(`The Compose file ${p.compose} is not a regular file (a FIFO)`);
    }
  });

  it('doctor with a FIFO among compose.files ends and reports it instead of hanging', async () => {
    const p = await project();
    await fs.rm(p.compose);
    mkfifo(p.compose);
    const r = await run(['doctor', '--manifest', p.manifest]);
    expect(r.signal, r.output).toBeNull();
    expect(r.output).not.toContain('Internal error');
  });

  it('a FIFO where the override should be: compose and gc refuse it (exit 7) instead of blocking on reading it; status still reports', async () => {
    const p = await project();
    const override = path.join(p.dir, 'compose.models.yaml');
    mkfifo(override);
    for (const args of [['compose'], ['gc', '--dry-run']]) {
      const r = await run([...args, '--manifest', p.manifest]);
      expect(r.signal, `${args[0]}: ${r.output}`).toBeNull();
      expect(r.code, `${args[0]}: ${r.output}`).toBe(ExitCode.compose);
      expect(r.output).toContain(`${override} is not a regular file (a FIFO)`);
    }
    const status = await run(['status', '--no-docker', '--manifest', p.manifest]);
    expect(status.signal, status.output).toBeNull();
    expect(status.code, status.output).toBe(0);
  });
});

describe("a lock whose holder.json is not a regular file", () => {
  for (const wait of [false, true]) {
    it(`a FIFO: update ${wait ? 'waiting for the lock' : '--no-wait'} refuses it at once, exit 5, naming the file and the fix`, async () => {
      const p = await project();
      await fs.mkdir(lockPath(p.hostDir), { recursive: true });
      const holder = path.join(lockPath(p.hostDir), 'holder.json');
      mkfifo(holder);
      const r = await run(['update', '--manifest', p.manifest, '--yes', '--no-smoke', '--no-compose', ...(wait ? [] : ['--no-wait'])]);
      expect(r.signal, r.output).toBeNull();
      expect(r.code, r.output).toBe(ExitCode.disk);
      expect(r.output).toContain(`${holder} is not a regular file (a FIFO)`);
      expect(r.output).toContain(`rm -r ${lockPath(p.hostDir)}`);
      // nothing removed: it is not modelmount's to judge
      expect((await fs.lstat(holder)).isFIFO()).toBe(true);
    });
  }
});
