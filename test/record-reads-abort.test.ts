/**
 * The install and release records (and state.json, the Compose override gc reads) are read under the stall bound (30 s) and the run's signal:
 * Ctrl+C (or a lost run lock) during a read of a record on a hung mount ends it at once with the
 * abort's reason, not after the bound. A hung read is a spy that never answers for one path; the
 * stall bound's timer fires only when the test moves the clock, after the abort.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import fs from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { runDoctor } from '../lib/doctor/run-doctor.ts';
import { overrideSources } from '../lib/gc/gc-inputs.ts';
import { runGc } from '../lib/gc/run-gc.ts';
import { loadManifest } from '../lib/manifest/load.ts';
import { outdatedNotice } from '../lib/releases/run-apply.ts';
import { gatherStatus } from '../lib/status/gather-status.ts';
import { runUpdate } from '../lib/update/run-update.ts';
import { StateCache } from '../lib/verify/state-cache.ts';
import { verifyHostFiles } from '../lib/verify/verify-files.ts';
import { readInstallRecord } from '../lib/install-record.ts';
import { hostStatePath, installRecordPath, lockPath, releaseSetsPath } from '../lib/layout.ts';
import { composeStep } from '../lib/releases/compose-steps.ts';
import { readReleaseRecord, type ReleaseRecord } from '../lib/releases/record.ts';
import { recordReleaseSet, switchToSet } from '../lib/releases/switch.ts';
import type { RunContext } from '../lib/run-context.ts';
import { STALL_DEFAULTS } from '../lib/stall.ts';
import { installedSelection } from '../lib/update/installed-set.ts';
import { makeFixture, type Fixture } from './helpers/compose-fixture.ts';
import { cliEnv, runCliCaptured } from './helpers/cli.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';
import { oneArtifactProject } from './helpers/one-artifact-project.ts';

let fx: Fixture | undefined;
afterEach(async () => {
  await endHungLooks();
  await fx?.cleanup();
  fx = undefined;
});

const installRecordOf = (f: Fixture) => installRecordPath(f.manifest.hostDir, f.manifest.path);
const releaseRecordOf = (f: Fixture) => releaseSetsPath(f.manifest.hostDir, f.manifest.path);

/**
 * `read(signal)` while fs[method] (the open, by default) of `file` hangs, from its `fromCall`th look
 * on (hangFs): aborted once it is asked, then the stall bound passes.
 */
async function abortedWhileHung(file: string, read: (signal: AbortSignal) => Promise<unknown>, method: 'open' | 'lstat' = 'open', fromCall = 1): Promise<unknown> {
  const hung = hangFs(method, file, { fromCall });
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  const ac = new AbortController();
  const reading = read(ac.signal).catch((e: unknown) => e);
  await untilAsked(hung, reading);
  ac.abort(new Error('Interrupted'));
  await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
  return reading;
}

describe('a read of a record on a hung mount ends with the abort (Ctrl+C), not after the stall bound', () => {
  const cases: [string, (f: Fixture) => string, (f: Fixture, signal: AbortSignal) => Promise<unknown>][] = [
    ['readInstallRecord', installRecordOf, (f, signal) => readInstallRecord(f.manifest.hostDir, f.manifest.path, { signal })],
    ['readReleaseRecord (rollback, apply)', releaseRecordOf, (f, signal) => readReleaseRecord(f.manifest.hostDir, f.manifest.path, { signal })],
    [
      'installedSelection (compose, smoke, doctor, verify)',
      installRecordOf,
      (f, signal) => installedSelection({ manifest: f.manifest, hostDir: f.manifest.hostDir } as RunContext, {}, { signal }),
    ],
    ['composeStep: the current releases (compose, update, rollback, apply)', releaseRecordOf, (f, signal) => composeStep(f.manifest, f.artifacts, { env: {}, cwd: f.root, found: { reason: 'no engine in this test' }, signal })],
    ['runDoctor: the install record', installRecordOf, (f, signal) => runDoctor(f.manifest, f.artifacts, { engine: null, cwd: f.root, env: {}, signal })],
    ['runDoctor: the release record', releaseRecordOf, (f, signal) => runDoctor(f.manifest, f.artifacts, { engine: null, cwd: f.root, env: {}, signal })],
    [
      'switchToSet: the install record (rollback, apply switching back)',
      installRecordOf,
      (f, signal) => {
        const record: ReleaseRecord = { version: 1, manifestPath: f.manifest.path, current: 'd1', sets: [] };
        return switchToSet(f.manifest, record, { digest: 'd0', createdAt: '', artifacts: {} }, { signal });
      },
    ],
    [
      'switchToSet: the host folder\'s state.json',
      (f) => hostStatePath(f.manifest.hostDir),
      (f, signal) => {
        const record: ReleaseRecord = { version: 1, manifestPath: f.manifest.path, current: 'd1', sets: [] };
        return switchToSet(f.manifest, record, { digest: 'd0', createdAt: '', artifacts: {} }, { signal });
      },
    ],
    ['recordReleaseSet (update): the release record', releaseRecordOf, (f, signal) => recordReleaseSet(f.manifest, [], { hostDir: f.manifest.hostDir, hostCache: StateCache.none() }, { signal })],
    ['outdatedNotice (update, rollback): the release record', releaseRecordOf, (f, signal) => outdatedNotice(f.manifest, { command: ['docker', 'compose'] }, { env: {}, cwd: f.root } as never, signal)],
  ];
  for (const [what, file, read] of cases) {
    it(what, async () => {
      fx = await makeFixture();
      const f = fx;
      expect(await abortedWhileHung(file(f), (signal) => read(f, signal))).toMatchObject({ message: 'Interrupted' });
    });
  }
});

describe('update, status and gc end with the abort on a hung read of their own files', () => {
  const io = (cwd: string) => ({ stdout: new PassThrough(), stderr: new PassThrough(), env: cliEnv(), cwd, isTTY: false });

  it('update: the install record read for the installed set', async () => {
    const p = await oneArtifactProject();
    const m = await loadManifest(p.manifest);
    const run = (signal: AbortSignal) => runUpdate({ manifest: p.manifest, yes: true }, io(p.dir), signal);
    expect(await abortedWhileHung(installRecordPath(p.hostDir, m.path), run)).toMatchObject({ message: 'Interrupted' });
  });

  it("update: the host folder's state.json", async () => {
    const p = await oneArtifactProject();
    const run = (signal: AbortSignal) => runUpdate({ manifest: p.manifest, yes: true }, io(p.dir), signal);
    expect(await abortedWhileHung(hostStatePath(p.hostDir), run)).toMatchObject({ message: 'Interrupted' });
  });

  it("verify: the host folder's state.json", async () => {
    fx = await makeFixture();
    const f = fx;
    expect(await abortedWhileHung(hostStatePath(f.manifest.hostDir), (signal) => verifyHostFiles(f.manifest.hostDir, f.artifacts, { signal }))).toMatchObject({ message: 'Interrupted' });
  });

  it('update: the install record read again to record the install (its third read, after the installed set and its refresh under the lock)', async () => {
    const p = await oneArtifactProject();
    const m = await loadManifest(p.manifest);
    const run = (signal: AbortSignal) => runUpdate({ manifest: p.manifest, yes: true }, io(p.dir), signal);
    expect(await abortedWhileHung(installRecordPath(p.hostDir, m.path), run, 'open', 3)).toMatchObject({ message: 'Interrupted' });
  });

  it('status (gatherStatus): the install record', async () => {
    const p = await oneArtifactProject();
    const m = await loadManifest(p.manifest);
    const run = (signal: AbortSignal) => gatherStatus({ manifest: p.manifest, docker: false }, io(p.dir), { signal });
    expect(await abortedWhileHung(installRecordPath(p.hostDir, m.path), run)).toMatchObject({ message: 'Interrupted' });
  });

  it('gc (overrideSources): the Compose override', async () => {
    fx = await makeFixture();
    const f = fx;
    expect(await abortedWhileHung(f.manifest.compose!.override, (signal) => overrideSources(f.manifest, signal), 'lstat')).toMatchObject({ message: 'Interrupted' });
  });

  it('gc: its run lock lost while it reads the Compose override under that lock ends the run with the lost lock, like every other command holding it', async () => {
    const p = await oneArtifactProject();
    const up = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke']);
    expect(up.code, up.stderr).toBe(0);
    const m = await loadManifest(p.manifest);
    // the read before the lock answers; the one under the lock, which decides what goes, hangs
    const hung = hangFs('lstat', m.compose!.override, { fromCall: 2 });
    const running = runGc({ manifests: [p.manifest], yes: true }, io(p.dir), new AbortController().signal).catch((e: unknown) => e);
    await untilAsked(hung, running);
    // another run takes the host folder's lock over: this run's heartbeat (real time, every 5 s) notices it
    await fs.rm(lockPath(p.hostDir), { recursive: true });
    expect(await running).toMatchObject({ code: 'ELOCKED', message: expect.stringContaining('Lost the run lock') });
  });
});
