/**
 * The run lock (lib/lock/) with real folders and real processes: a second
 * holder waits and is told who holds it, --no-wait fails with exit 6, a lock
 * left by a SIGKILLed process is reclaimed within the stale interval, and a
 * stale lock reclaimed by several waiters at once ends with one holder.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode, LockError } from '../lib/errors.ts';
import { lockPath } from '../lib/layout.ts';
import { describeHolder, readLockHolder } from '../lib/lock/holder.ts';
import { withRunLock } from '../lib/lock/run-lock.ts';
import { cliEnv, manifestYaml, runCliCaptured, sampleArtifacts, tempDir, tempProject } from './helpers/cli.ts';
import { deferred, holdRunLock, runWatchingStderr } from './helpers/lock-holder.ts';
import { recordingClock } from './helpers/clock.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const children: import('node:child_process').ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A child process that takes the lock on `dir` and holds it until killed. Resolves with its pid once locked. */
async function lockInChild(dir: string, staleMs: number): Promise<import('node:child_process').ChildProcess> {
  const script = path.join(await tempDir('modelmount-lock-child-'), 'hold.mts');
  await fs.writeFile(
    script,
    `import { withRunLock } from ${JSON.stringify(path.join(ROOT, 'lib', 'lock', 'run-lock.ts'))};
await withRunLock([${JSON.stringify(dir)}], { wait: true, staleMs: ${staleMs}, command: 'test holder' }, async () => {
  process.stdout.write('locked\\n');
  await new Promise(() => setInterval(() => {}, 1 << 30)); // hold until killed
});
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('locked')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
  });
  return child;
}

describe('withRunLock', () => {
  it('lets one holder in at a time; the second waits and is told who holds it', async () => {
    const dir = await tempDir();
    const order: string[] = [];
    const firstIn = deferred();
    const waits: string[] = [];
    const first = withRunLock([dir], { wait: true, command: 'modelmount update --yes' }, async () => {
      order.push('first in');
      firstIn.resolve();
      await sleep(400);
      order.push('first out');
    });
    await firstIn.promise;
    const holder = await readLockHolder(dir);
    expect(holder).toMatchObject({ pid: process.pid, command: 'modelmount update --yes' });
    const second = withRunLock([dir], { wait: true, maxPollMs: 50, onWait: (h) => waits.push(h) }, async () => {
      order.push('second in');
    });
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second in']);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toContain(`pid ${process.pid} on host`);
    expect(waits[0]).toContain('(modelmount update --yes)');
    expect(waits[0]).toContain(dir.split(path.sep).pop());
    // released: nothing left behind
    expect((await fs.readdir(dir)).filter((n) => n.startsWith('.modelmount.lock'))).toEqual([]);
  });

  it('fails fast with LockError (exit 6) naming the holder when told not to wait', async () => {
    const dir = await tempDir();
    const inside = deferred();
    const release = deferred();
    const held = withRunLock([dir], { wait: true, command: 'modelmount warm' }, async () => {
      inside.resolve();
      await release.promise;
    });
    await inside.promise;
    const err = await withRunLock([dir], { wait: false }, async () => 'ran').catch((e: unknown) => e);
    release.resolve();
    await held;
    expect(err).toBeInstanceOf(LockError);
    expect((err as LockError).exitCode).toBe(ExitCode.lock);
    expect((err as LockError).message).toContain('(modelmount warm)');
    expect((err as LockError).hint).toContain('--no-wait');
  });

  it('locks several folders in sorted order and releases them all, also when fn throws', async () => {
    const a = await tempDir();
    const b = await tempDir();
    await expect(
      withRunLock([b, a, b], { wait: true }, async () => {
        expect(await readLockHolder(a)).toBeDefined();
        expect(await readLockHolder(b)).toBeDefined();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await readLockHolder(a)).toBeUndefined();
    expect(await readLockHolder(b)).toBeUndefined();
    await expect(fs.stat(lockPath(a))).rejects.toThrow();
  });

  it('stops waiting when the signal aborts', async () => {
    const dir = await tempDir();
    const inside = deferred();
    const release = deferred();
    const held = withRunLock([dir], { wait: true }, async () => {
      inside.resolve();
      await release.promise;
    });
    await inside.promise;
    const ac = new AbortController();
    setTimeout(() => ac.abort(new DOMException('Interrupted', 'AbortError')), 150);
    await expect(withRunLock([dir], { wait: true, signal: ac.signal }, async () => 'ran')).rejects.toMatchObject({ name: 'AbortError' });
    release.resolve();
    await held;
  });

  it('takes over at once the lock of a SIGKILLed holder on this host (its pid is gone), even with --no-wait', async () => {
    const dir = await tempDir();
    const staleMs = 3000;
    const child = await lockInChild(dir, staleMs);
    expect(await readLockHolder(dir)).toMatchObject({ pid: child.pid, command: 'test holder', host: os.hostname() });
    // a live holder on this host is not taken over
    await expect(withRunLock([dir], { wait: false, staleMs }, async () => 'ran')).rejects.toBeInstanceOf(LockError);

    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // no waiting for the (long) stale interval: the holder is provably dead
    const result = await withRunLock([dir], { wait: false, staleMs: 60_000 }, async () => {
      expect((await readLockHolder(dir))?.pid).toBe(process.pid);
      return 'ran';
    });
    expect(result).toBe('ran');
    expect((await fs.readdir(dir)).filter((n) => n.startsWith('.modelmount.lock'))).toEqual([]);
  });

  it('a live holder keeps its lock fresh: past the stale interval (on its clock) it is not taken over', async () => {
    const dir = await tempDir();
    const staleMs = 3000;
    const clock = recordingClock();
    const start = clock.now();
    const inside = deferred();
    const release = deferred();
    const held = withRunLock([dir], { wait: true, staleMs, clock, command: 'modelmount warm' }, async (signal) => {
      inside.resolve();
      await release.promise;
      expect(signal.aborted).toBe(false); // never taken for lost
    });
    await inside.promise;
    // the holder's heartbeat runs on the clock (each beat moves it on): wait until it has passed the stale interval
    for (const giveUp = Date.now() + 30_000; clock.now() < start + staleMs + 500; ) {
      if (Date.now() > giveUp) throw new Error(`the heartbeat stopped: the clock is at +${clock.now() - start} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await expect(withRunLock([dir], { wait: false, staleMs, clock }, async () => 'ran')).rejects.toBeInstanceOf(LockError);
    release.resolve();
    await held;
  });

  it('reclaims a lock held from another host (shared store) only after the stale interval', async () => {
    const dir = await tempDir();
    const staleMs = 3000;
    const child = await lockInChild(dir, staleMs);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // as if the dead holder had run on another machine: its pid says nothing here
    const holderFile = path.join(lockPath(dir), 'holder.json');
    const holder = JSON.parse(await fs.readFile(holderFile, 'utf8'));
    await fs.writeFile(holderFile, JSON.stringify({ ...holder, host: 'another-host' }));
    await expect(withRunLock([dir], { wait: false, staleMs }, async () => 'ran')).rejects.toBeInstanceOf(LockError);
    const lastBeat = (await fs.stat(lockPath(dir))).mtimeMs;
    const clock = recordingClock(lastBeat); // its time starts at the last heartbeat
    const maxPollMs = 500;
    const waits: string[] = [];
    let reclaimedAt = 0;
    const result = await withRunLock([dir], { wait: true, staleMs, maxPollMs, clock, onWait: (h) => waits.push(h) }, async () => {
      reclaimedAt = Date.parse((await readLockHolder(dir))!.since); // the new lock's time of creation, on the clock
      return 'ran';
    });
    expect(result).toBe('ran');
    expect(waits[0]).toContain(`pid ${child.pid} on host another-host`);
    // reclaimed no sooner than staleMs after the holder's last heartbeat, and at most one poll later (on the clock)
    expect(reclaimedAt - lastBeat).toBeGreaterThanOrEqual(staleMs);
    expect(reclaimedAt - lastBeat).toBeLessThanOrEqual(staleMs + maxPollMs * 1.2);
  });

  it('when several waiters reclaim one stale lock at once, exactly one holds it at a time', async () => {
    const dir = await tempDir();
    const staleMs = 2000;
    const child = await lockInChild(dir, staleMs);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withRunLock([dir], { wait: true, staleMs, maxPollMs: 50 }, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await sleep(30);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect((await fs.readdir(dir)).filter((n) => n.startsWith('.modelmount.lock'))).toEqual([]);
  });

  it('describes an unknown holder without crashing', () => {
    expect(describeHolder(undefined)).toContain('did not say');
    expect(describeHolder({ pid: 1, host: 'h', command: 'c', since: new Date(0).toISOString(), token: 't' }, 5000)).toBe(
      'pid 1 on host h (c), since 1970-01-01T00:00:00.000Z, 5 s ago',
    );
  });
});

describe('update under the lock', () => {
  it('--no-wait exits 6 while another run holds the host folder, and waits by default', async () => {
    const artifacts = sampleArtifacts({ ja: 1000, en: 1000, teacher: 10 });
    const origin = await tempDir();
    for (const a of artifacts) {
      for (const f of a.files) {
        await fs.mkdir(path.join(origin, a.id), { recursive: true });
        await fs.writeFile(path.join(origin, a.id, f.path), f.data);
      }
    }
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'folder', url: origin }] }));
    const lock = await holdRunLock([p.hostDir], 'modelmount bootstrap');
    const args = ['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke'];
    const failed = await runCliCaptured([...args, '--no-wait', '--json']);
    expect(failed.code).toBe(ExitCode.lock);
    const doc = JSON.parse(failed.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(doc.ok).toBe(false);
    expect(doc.error.code).toBe('ELOCKED');
    expect(doc.error.message).toContain('(modelmount bootstrap)');
    // nothing was installed
    await expect(fs.stat(path.join(p.hostDir, 'student'))).rejects.toThrow();

    // the waiting run, with its stderr watched: release the lock once it says it waits
    const waiting = runWatchingStderr(args, cliEnv());
    await waiting.waiting;
    await lock.release();
    expect(await waiting.done).toBe(0);
    expect(waiting.stderr()).toContain('(modelmount bootstrap)');
    await fs.stat(path.join(p.hostDir, 'student/v0_ja/model.safetensors'));
  });
});
