/**
 * The override file in the Compose project's folder is looked at (an lstat, then a read) before
 * it is replaced, and by gc: under the stall bound and the run's signal, like every look at the
 * host folder. A hung look is a spy that never answers for one path.
 */
import fs from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readExistingOverride, writeComposeOverride } from '../lib/compose/write-override.ts';
import { makeFixture, type Fixture } from './helpers/compose-fixture.ts';
import { endHungLooks, hangFs } from './helpers/hung-fs.ts';

let fx: Fixture | undefined;
afterEach(async () => {
  await endHungLooks();
  await fx?.cleanup();
  fx = undefined;
});

describe('the existing override on a hung mount', () => {
  for (const method of ['lstat', 'open'] as const) {
    it(`its ${method}: a stall naming the file (ESTALLED, exit 5), no folder option in the hint`, async () => {
      fx = await makeFixture();
      const file = fx.manifest.compose!.override;
      await fs.writeFile(file, '# not ours\n');
      hangFs(method, file);
      const err = await readExistingOverride(file, { idleMs: 200 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
      expect((err as Error).message).toBe(`Reading ${file} stalled: no answer for 0.2 s (a hung network mount?).`);
      expect((err as { hint: string }).hint).not.toContain('--');
    });
  }

  it('writeComposeOverride: an abort ends the wait with its reason (whatever the bound); nothing is written', async () => {
    fx = await makeFixture();
    const file = fx.manifest.compose!.override;
    const hung = hangFs('lstat', file);
    const ac = new AbortController();
    const writing = writeComposeOverride(fx.manifest, fx.artifacts, { idleMs: 10 * 60_000, signal: ac.signal }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(hung.called()).toBe(true));
    ac.abort(new Error('Interrupted'));
    expect(await writing).toMatchObject({ message: 'Interrupted' });
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
