/**
 * The user's Compose files as modelmount reads them itself (for the profiles of the listed
 * services, doctor's lines and include: lookups) on a mount that stops answering: every read is
 * under the stall bound and the run's signal, so a hung file is ESTALLED (exit 5) naming it, or
 * ends with the abort's reason, never a hang; a stall is never taken for an unreadable file. A hung
 * read is a spy on fs.open that never answers for one path (test/helpers/hung-fs.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { $ } from 'zx';
import { validateMergedConfig } from '../lib/compose/check-merged-mounts.ts';
import { detectCompose } from '../lib/compose/engine.ts';
import { readComposeTree } from '../lib/compose/services.ts';
import { writeComposeOverride } from '../lib/compose/write-override.ts';
import { runDoctor } from '../lib/doctor/run-doctor.ts';
import { runSmoke } from '../lib/smoke/run-smoke.ts';
import { STALL_DEFAULTS } from '../lib/stall.ts';
import { tempDir } from './helpers/cli.ts';
import { makeFixture, REQUIRE_DOCKER, type Fixture } from './helpers/compose-fixture.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';

let fx: Fixture | undefined;
afterEach(async () => {
  await endHungLooks();
  vi.unstubAllEnvs();
  await fx?.cleanup();
  fx = undefined;
});

const stalledMessage = (file: string, seconds: string) => `Reading ${file} stalled: no answer for ${seconds} (a hung network mount?).`;

describe('readComposeTree on a Compose file that stops answering', () => {
  async function project(): Promise<{ dir: string; files: string[] }> {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, 'ml'));
    await fs.writeFile(path.join(dir, 'ml', 'compose.yaml'), 'services:\n  worker:\n    extends: {file: ../base.yaml, service: app}\n');
    await fs.writeFile(path.join(dir, 'base.yaml'), 'services:\n  app:\n    image: x\n    profiles: [gpu]\n');
    await fs.writeFile(path.join(dir, 'compose.yaml'), 'include: [ml/compose.yaml]\nservices:\n  web:\n    image: x\n');
    return { dir, files: [path.join(dir, 'compose.yaml')] };
  }
  const cases: [string, (dir: string) => string][] = [
    ['a file given', (dir) => path.join(dir, 'compose.yaml')],
    ['a file it includes', (dir) => path.join(dir, 'ml', 'compose.yaml')],
    ['a file a service extends from', (dir) => path.join(dir, 'base.yaml')],
  ];
  for (const [what, hung] of cases) {
    it(`${what}: a stall naming the file (ESTALLED, exit 5), not a hang and not an unreadable file`, async () => {
      const { dir, files } = await project();
      hangFs('open', hung(dir));
      const err = await readComposeTree(files, { idleMs: 200 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5, message: stalledMessage(hung(dir), '0.2 s') });
    });
  }

  it('an abort ends the wait at once with its reason, whatever the bound', async () => {
    const { dir, files } = await project();
    const hung = hangFs('open', path.join(dir, 'base.yaml'));
    const ac = new AbortController();
    const reading = readComposeTree(files, { idleMs: 10 * 60_000, signal: ac.signal }).catch((e: unknown) => e);
    await untilAsked(hung, reading);
    ac.abort(new Error('Interrupted'));
    expect(await reading).toMatchObject({ message: 'Interrupted' });
  });
});

const engine = await detectCompose();

describe.skipIf(!engine && !REQUIRE_DOCKER)(`what reads the Compose files for a run of \`${engine?.command.join(' ') ?? 'compose'}\`: a hung file ends the run`, () => {
  /** the fixture with its base Compose file hanging on open */
  async function hungBase() {
    fx = await makeFixture();
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const base = fx.manifest.compose!.files[0]!;
    return { base, hung: hangFs('open', base) };
  }
  const callers: [string, (f: Fixture, signal?: AbortSignal) => Promise<unknown>][] = [
    ['validateMergedConfig (compose, update, apply)', (f, signal) => validateMergedConfig(f.manifest, f.artifacts, { engine: engine!, $, env: {}, signal })],
    ['runSmoke (smoke, update, apply)', (f, signal) => runSmoke(f.manifest, f.artifacts, { engine: engine!, $, env: {}, signal })],
    ['runDoctor', (f, signal) => runDoctor(f.manifest, f.artifacts, { engine: engine!, $, env: {}, cwd: f.root, signal })],
  ];
  for (const [what, call] of callers) {
    it(`${what}: ESTALLED (exit 5) naming the file after the stall bound`, async () => {
      const { base, hung } = await hungBase();
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      const running = call(fx!).catch((e: unknown) => e);
      await untilAsked(hung, running);
      await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
      expect(await running).toMatchObject({ code: 'ESTALLED', exitCode: 5, message: stalledMessage(base, '30 s') });
    });

    it(`${what}: the run's signal ends the wait at once with its reason`, async () => {
      const { hung } = await hungBase();
      const ac = new AbortController();
      const running = call(fx!, ac.signal).catch((e: unknown) => e);
      await untilAsked(hung, running);
      ac.abort(new Error('Interrupted'));
      expect(await running).toMatchObject({ message: 'Interrupted' });
    });

    it(`${what}: the look at a Compose file before Compose runs (is it a regular file?) is bound too: ESTALLED, not a Compose finding`, async () => {
      fx = await makeFixture();
      await writeComposeOverride(fx.manifest, fx.artifacts);
      const base = fx.manifest.compose!.files[0]!;
      const hung = hangFs('stat', base);
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      const running = call(fx).catch((e: unknown) => e);
      await untilAsked(hung, running);
      await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
      expect(await running).toMatchObject({ code: 'ESTALLED', exitCode: 5, message: `Looking at ${base} stalled: no answer for 30 s (a hung network mount?).` });
    });
  }

  it('runSmoke: a run that ends on a hung Compose file leaves no temporary folder behind', async () => {
    const { hung } = await hungBase();
    const tmp = await tempDir();
    vi.stubEnv('TMPDIR', tmp);
    const ac = new AbortController();
    const running = runSmoke(fx!.manifest, fx!.artifacts, { engine: engine!, $, env: {}, signal: ac.signal }).catch((e: unknown) => e);
    await untilAsked(hung, running);
    ac.abort(new Error('Interrupted'));
    expect(await running).toMatchObject({ message: 'Interrupted' });
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  it("the project's .env that stops answering: the run's signal ends the wait of doctor and of the merged-config check (profiles), whatever the bound", async () => {
    fx = await makeFixture({ baseCompose: 'services:\n  ml-worker:\n    image: x\n    profiles: [gpu]\n' });
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const dotEnv = path.join(path.dirname(fx.manifest.compose!.files[0]!), '.env');
    await fs.writeFile(dotEnv, 'COMPOSE_PROFILES=debug\n');
    for (const call of [callers[0]![1], callers[2]![1]]) {
      const hung = hangFs('open', dotEnv);
      const ac = new AbortController();
      const running = call(fx, ac.signal).catch((e: unknown) => e);
      await untilAsked(hung, running);
      ac.abort(new Error('Interrupted'));
      expect(await running).toMatchObject({ message: 'Interrupted' });
      await endHungLooks();
    }
  });

  it("runDoctor without an engine: the checks' own reads of a Compose file (include: lookups, lines) are bound too, and end with the run's signal", async () => {
    const { base, hung } = await hungBase();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const stalled = runDoctor(fx!.manifest, fx!.artifacts, { engine: null, env: {}, cwd: fx!.root }).catch((e: unknown) => e);
    await untilAsked(hung, stalled);
    await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
    expect(await stalled).toMatchObject({ code: 'ESTALLED', message: stalledMessage(base, '30 s') });
    await endHungLooks();

    const again = hangFs('open', base);
    const ac = new AbortController();
    const aborted = runDoctor(fx!.manifest, fx!.artifacts, { engine: null, env: {}, cwd: fx!.root, signal: ac.signal }).catch((e: unknown) => e);
    await untilAsked(again, aborted);
    ac.abort(new Error('Interrupted'));
    expect(await aborted).toMatchObject({ message: 'Interrupted' });
  });
});
