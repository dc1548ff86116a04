/**
 * The install and release records are read under the stall bound (30 s) and the run's signal:
 * Ctrl+C (or a lost run lock) during a read of a record on a hung mount ends it at once with the
 * abort's reason, not after the bound. A hung read is a spy that never answers for one path; the
 * stall bound's timer fires only when the test moves the clock, after the abort.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runDoctor } from '../lib/doctor/run-doctor.ts';
import { readInstallRecord } from '../lib/install-record.ts';
import { installRecordPath, releaseSetsPath } from '../lib/layout.ts';
import { composeStep } from '../lib/releases/compose-steps.ts';
import { readReleaseRecord, type ReleaseRecord } from '../lib/releases/record.ts';
import { switchToSet } from '../lib/releases/switch.ts';
import type { RunContext } from '../lib/run-context.ts';
import { STALL_DEFAULTS } from '../lib/stall.ts';
import { installedSelection } from '../lib/update/installed-set.ts';
import { makeFixture, type Fixture } from './helpers/compose-fixture.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';

let fx: Fixture | undefined;
afterEach(async () => {
  await endHungLooks();
  await fx?.cleanup();
  fx = undefined;
});

const installRecordOf = (f: Fixture) => installRecordPath(f.manifest.hostDir, f.manifest.path);
const releaseRecordOf = (f: Fixture) => releaseSetsPath(f.manifest.hostDir, f.manifest.path);

/** `read(signal)` while the open of `file` hangs: aborted once it is asked, then the stall bound passes. */
async function abortedWhileHung(file: string, read: (signal: AbortSignal) => Promise<unknown>): Promise<unknown> {
  const hung = hangFs('open', file);
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
  ];
  for (const [what, file, read] of cases) {
    it(what, async () => {
      fx = await makeFixture();
      const f = fx;
      expect(await abortedWhileHung(file(f), (signal) => read(f, signal))).toMatchObject({ message: 'Interrupted' });
    });
  }
});
