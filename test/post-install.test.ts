/**
 * What `update` does after the install (lib/update/post-install.ts), as the update JSON document and
 * stderr show it when --apply fails: the failure reaches stderr in every mode, and each step says
 * whether it ran, failed (and with which code) or did not run. Docker is not needed: the engine
 * lookup and apply's recreation are stubbed, the override is really written.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ComposeError, SmokeError, UsageError } from '../lib/errors.ts';
import type { ApplyReport } from '../lib/releases/apply.ts';
import { manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, tempProject } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

vi.mock('../lib/smoke/engine.ts', async (importOriginal) => ({ ...(await importOriginal<typeof import('../lib/smoke/engine.ts')>()), findSmokeEngine: vi.fn() }));
vi.mock('../lib/releases/apply.ts', async (importOriginal) => ({ ...(await importOriginal<typeof import('../lib/releases/apply.ts')>()), applyCurrentSet: vi.fn() }));
const { findSmokeEngine } = vi.mocked(await import('../lib/smoke/engine.ts'));
const { applyCurrentSet } = vi.mocked(await import('../lib/releases/apply.ts'));

const artifacts = sampleArtifacts({ ja: 3000, en: 2000, teacher: 1000 });
let server: FaultServer;
beforeEach(async () => {
  vi.clearAllMocks();
  server = await startFaultServer({ files: serverFiles(artifacts) });
  // an engine that can run containers, but no Compose binary for `config`: the override is written, not validated
  findSmokeEngine.mockResolvedValue({ engine: { command: ['docker', 'compose'], version: 'v2', fullVersion: '2.0.0' } as never });
});
afterEach(() => server.close());

async function project() {
  const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }], extra: 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: compose.models.yaml\n  containerDir: /models' }));
  await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
  return p;
}

const recreated: ApplyReport = { set: 'a'.repeat(64), recreated: ['worker'], unchanged: [], notRunning: [], ok: false };

/** apply's failure after recreation, carrying its report, as applyCurrentSet throws it */
function healthFailure(): SmokeError {
  const failure = new SmokeError('After recreation: worker: container w is unhealthy (its healthcheck fails).', { code: 'EAPPLY_HEALTH', hint: 'See `docker logs` of the container named above.' });
  const report = { ...recreated, error: { code: failure.code, message: failure.message } };
  return SmokeError.afterApply(failure, failure.message, { hint: failure.hint, data: { apply: report }, cause: failure });
}

describe('update --apply: a failed apply', () => {
  it('--json: the failure is on stderr too; apply says it failed, smoke that it did not run, and why (the code)', async () => {
    const p = await project();
    applyCurrentSet.mockRejectedValue(healthFailure());
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--apply', '--json']);
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/^✖ After recreation: worker: container w is unhealthy/m);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.compose).toMatchObject({ override: path.join(p.dir, 'compose.models.yaml'), validated: false });
    expect(doc.apply).toMatchObject({ ok: false, recreated: ['worker'], error: { code: 'EAPPLY_HEALTH' } });
    expect(doc.smoke).toEqual({ notRun: 'EAPPLY_HEALTH' });
    expect(doc.errors).toContainEqual(expect.objectContaining({ code: 'EAPPLY_HEALTH' }));
  });

  it('a failure before apply made a report: apply says failed with its code; the failure is on stderr once, in every mode', async () => {
    const p = await project();
    applyCurrentSet.mockRejectedValue(new UsageError('No release set is recorded: nothing to apply.', { code: 'ENORELEASE', hint: 'Run update first.' }));
    for (const flags of [['--json'], ['--quiet'], []]) {
      const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--apply', ...flags]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr.match(/^✖ No release set is recorded/gm), flags.join(' ')).toHaveLength(1);
      if (flags[0] === '--json') {
        const doc = JSON.parse(r.stdout);
        expect(doc.apply).toEqual({ failed: 'ENORELEASE' });
        expect(doc.smoke).toEqual({ notRun: 'ENORELEASE' });
      }
    }
  });

  it('apply smoke-tested and the smoke test failed: smoke holds that report', async () => {
    const p = await project();
    const smokeReport = { ok: false, failures: [{ code: 'ESMOKE_COMMAND_FAILED', message: 'the command exited 1' }] };
    const failure = new SmokeError('The smoke test failed.', { code: 'ESMOKE_COMMAND_FAILED', data: { report: smokeReport } });
    applyCurrentSet.mockRejectedValue(SmokeError.afterApply(failure, failure.message, { data: { report: smokeReport, apply: { ...recreated, error: { code: failure.code, message: failure.message } } }, cause: failure }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--apply', '--json']);
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/^✖ The smoke test failed\./m);
    const doc = JSON.parse(r.stdout);
    expect(doc.smoke).toEqual(smokeReport);
    expect(doc.apply).toMatchObject({ ok: false, error: { code: 'ESMOKE_COMMAND_FAILED' } });
  });

  it('a Compose step that fails: compose says failed, apply and smoke that they did not run', async () => {
    const p = await project();
    findSmokeEngine.mockRejectedValue(new ComposeError('Compose is broken.', { code: 'ECOMPOSE_CONFIG' }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--apply', '--json']);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^✖ Compose is broken\./m);
    const doc = JSON.parse(r.stdout);
    expect(doc.compose).toEqual({ failed: 'ECOMPOSE_CONFIG' });
    expect(doc.apply).toEqual({ notRun: 'ECOMPOSE_CONFIG' });
    expect(doc.smoke).toEqual({ notRun: 'ECOMPOSE_CONFIG' });
    expect(applyCurrentSet).not.toHaveBeenCalled();
  });
});
