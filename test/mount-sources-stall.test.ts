/**
 * The mount-source checks (doctor, compose, smoke) on a host folder that stops answering: each look
 * at a folder before its files are checked (the lstat of every folder from hostDir down, the
 * readdir of the artifact folder, a release's lstats) is under the stall bound, so a hung mount is
 * ESTALLED (exit 5) naming the host folder, never a hang.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { inspectMountSources } from '../lib/compose/mount-sources.ts';
import { writeComposeOverride } from '../lib/compose/write-override.ts';
import { runDoctor } from '../lib/doctor/run-doctor.ts';
import { artifactDir } from '../lib/layout.ts';
import { composeStep } from '../lib/releases/compose-steps.ts';
import { STALL_DEFAULTS } from '../lib/stall.ts';
import { makeFixture, type Fixture } from './helpers/compose-fixture.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';

let fx: Fixture | undefined;
afterEach(async () => {
  await endHungLooks();
  await fx?.cleanup();
  fx = undefined;
});

describe('inspectMountSources on a host folder that stops answering', () => {
  const cases: [string, (f: Fixture) => ['lstat' | 'readdir', string]][] = [
    ['the host folder itself (lstat)', (f) => ['lstat', f.manifest.hostDir]],
    ['a folder below it (lstat)', (f) => ['lstat', path.join(f.manifest.hostDir, 'student')]],
    ['the artifact folder (readdir)', (f) => ['readdir', artifactDir(f.manifest.hostDir, 'student/v0_ja')]],
  ];
  for (const [what, target] of cases) {
    it(`${what}: a stall naming the host folder (ESTALLED, exit 5), not a hang`, async () => {
      fx = await makeFixture();
      hangFs(...target(fx));
      const err = await inspectMountSources(fx.manifest, fx.artifacts, { idleMs: 200 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
      expect((err as Error).message).toBe(`Checking the files in ${fx.manifest.hostDir} stalled: no answer for 0.2 s (a hung network mount?).`);
    });
  }

  it("a release folder's lstat: the same stall", async () => {
    fx = await makeFixture();
    const source = path.join(fx.manifest.hostDir, '.modelmount', 'releases', 'student', 'v0_ja', 'd1');
    hangFs('lstat', source);
    const releases = { byId: { 'student/v0_ja': { source, digest: 'd1', files: fx.artifacts[0]!.files } } };
    const err = await inspectMountSources(fx.manifest, fx.artifacts, { idleMs: 200, releases }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
    expect((err as Error).message).toContain(`Checking the files in ${fx.manifest.hostDir} stalled`);
  });
});

describe('doctor, compose and update on a host folder that stops answering: the run\'s signal ends the check', () => {
  // each with a 10-minute bound: only the abort can end the wait within the test
  const callers: [string, (f: Fixture, signal: AbortSignal) => Promise<unknown>][] = [
    ['inspectMountSources (doctor)', (f, signal) => inspectMountSources(f.manifest, f.artifacts, { idleMs: 10 * 60_000, signal })],
    ['writeComposeOverride', (f, signal) => writeComposeOverride(f.manifest, f.artifacts, { idleMs: 10 * 60_000, signal })],
  ];
  for (const [what, call] of callers) {
    it(`${what}: an abort ends the wait at once with its reason (whatever the bound); no override is written`, async () => {
      fx = await makeFixture();
      const hung = hangFs('lstat', fx.manifest.hostDir);
      const ac = new AbortController();
      const running = call(fx, ac.signal).catch((e: unknown) => e);
      await untilAsked(hung, running);
      ac.abort(new Error('Interrupted'));
      expect(await running).toMatchObject({ message: 'Interrupted' });
      await expect(fs.stat(fx.manifest.compose!.override)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }

  it('composeStep (compose, update, rollback, apply): an abort ends the wait with its reason, before the stall bound could', async () => {
    fx = await makeFixture();
    const hung = hangFs('lstat', fx.manifest.hostDir);
    // the stall bound's timer only fires when the test moves the clock: the abort comes first
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const ac = new AbortController();
    const found = { reason: 'no engine in this test' };
    const step = composeStep(fx.manifest, fx.artifacts, { env: {}, cwd: fx.root, found, signal: ac.signal }).catch((e: unknown) => e);
    await untilAsked(hung, step);
    ac.abort(new Error('Interrupted'));
    await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
    expect(await step).toMatchObject({ message: 'Interrupted' });
  });
});

describe('doctor on a host folder that stops answering', () => {
  const cases: [string, (f: Fixture) => ['lstat' | 'readdir', string]][] = [
    ['the host folder, while the mount sources are checked', (f) => ['lstat', f.manifest.hostDir]],
    ['a folder below an artifact folder, while doctor looks for symlinks', (f) => ['readdir', path.join(artifactDir(f.manifest.hostDir, 'student/v0_ja'), 'tokenizer')]],
  ];
  for (const [what, target] of cases) {
    it(`${what}: ends with the stall (ESTALLED, exit 5) after the stall bound, with a hint`, async () => {
      fx = await makeFixture();
      const hung = hangFs(...target(fx));
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      const result = runDoctor(fx.manifest, fx.artifacts, { engine: null, cwd: fx.root, env: {} }).catch((e: unknown) => e);
      await untilAsked(hung, result);
      await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
      const err = await result;
      expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
      expect((err as Error).message).toContain(`Checking the files in ${fx.manifest.hostDir} stalled`);
      expect((err as { hint?: string }).hint).toMatch(/remount/);
    });
  }
});
