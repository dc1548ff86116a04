/**
 * `update --offline` installs from the store alone: exit 3 naming what is
 * missing when the store lacks anything (nothing installed, no network), and a
 * complete install without a single request after `warm`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, sha256, tempProject, type TestArtifact } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

let server: FaultServer;
let artifacts: TestArtifact[];
beforeAll(async () => {
  artifacts = sampleArtifacts({ ja: 120_000, en: 80_000, teacher: 1000 });
  server = await startFaultServer({ files: serverFiles(artifacts) });
});
afterAll(async () => {
  await server.close();
});

const NO_POST = ['--no-compose', '--no-smoke'];

describe('update --offline', () => {
  it('exits 3 naming every missing file, makes no request and installs nothing', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const before = server.requests.length;
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--offline', '--json', ...NO_POST]);
    expect(r.code).toBe(3);
    const doc = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(doc.ok).toBe(false);
    expect(doc.error.code).toBe('ESOURCES');
    expect(doc.error.message).toContain('student/v0_ja/model.safetensors');
    expect(doc.error.message).toContain('student/v0_en/model.safetensors');
    expect(r.stderr).toContain('student/v0_ja/config.json');
    expect(server.requests.length).toBe(before);
    expect((await listFiles(p.hostDir)).filter((f) => !f.startsWith('.'))).toEqual([]);
  });

  it('MODELS_OFFLINE=1 works like the flag and names only what the store lacks', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    expect((await runCliCaptured(['warm', '--manifest', p.manifest, '--only', 'student/v0_ja'])).code).toBe(0);
    const before = server.requests.length;
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', ...NO_POST], { env: { MODELS_OFFLINE: '1' } });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('student/v0_en/model.safetensors');
    expect(r.stderr).not.toContain('student/v0_ja/model.safetensors');
    expect(server.requests.length).toBe(before);
  });

  it('succeeds from a warm store without a single request, then verifies', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    expect((await runCliCaptured(['warm', '--manifest', p.manifest])).code).toBe(0);
    const before = server.requests.length;
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--offline', '--json', ...NO_POST]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; totals: { installed: number; bytesTransferred: number } };
    expect(report.ok).toBe(true);
    expect(report.totals).toMatchObject({ installed: 3, bytesTransferred: 0 });
    expect(server.requests.length).toBe(before);
    for (const a of artifacts.filter((x) => !x.optional)) {
      for (const f of a.files) expect(sha256(await fs.readFile(path.join(p.hostDir, a.id, f.path)))).toBe(sha256(f.data));
    }
    expect((await runCliCaptured(['verify', '--manifest', p.manifest, '--full'])).code).toBe(0);
  });
});
