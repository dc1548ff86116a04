/**
 * `modelmount warm`: fills the store for the selection and nothing else, verifies
 * it, never asks; `--key` is stable across comments, labels and source URLs and
 * changes with the bytes.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobPath } from '../lib/layout.ts';
import type { WarmReport } from '../lib/update/run-warm.ts';
import { listFiles, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, sha256, tempDir, tempProject, type TestArtifact } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

let server: FaultServer;
let artifacts: TestArtifact[];

beforeAll(async () => {
  artifacts = sampleArtifacts({ ja: 200_000, en: 100_000, teacher: 50_000 });
  server = await startFaultServer({ files: serverFiles(artifacts) });
});
afterAll(async () => {
  await server.close();
});

const KEY_RE = /^modelmount-v1-[0-9a-f]{64}$/;

async function keyOf(yaml: string, extra: string[] = []): Promise<string> {
  const p = await tempProject(yaml);
  const r = await runCliCaptured(['warm', '--manifest', p.manifest, '--key', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^modelmount-v1-[0-9a-f]{64}\n$/); // the key and nothing else
  return r.stdout.trim();
}

describe('warm', () => {
  it('fills the store with the selection, verifies it, creates no host folder; a second run fetches nothing', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const before = server.requests.length;
    const r = await runCliCaptured(['warm', '--manifest', p.manifest, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as WarmReport;
    expect(report).toMatchObject({ command: 'warm', ok: true, cacheDir: p.cacheDir, selection: ['student/v0_ja', 'student/v0_en'] });
    expect(report.key).toMatch(KEY_RE);
    expect(report.totals).toMatchObject({ blobs: 3, fetched: 3, present: 0, failed: 0, bytesTransferred: 200_000 + 100_000 + 14 });
    for (const a of artifacts.filter((x) => !x.optional)) {
      for (const f of a.files) expect(sha256(await fs.readFile(blobPath(p.cacheDir, sha256(f.data))))).toBe(sha256(f.data));
    }
    // the optional teacher is not selected, so not fetched
    await expect(fs.stat(blobPath(p.cacheDir, sha256(artifacts[2]!.files[0]!.data)))).rejects.toThrow();
    await expect(fs.stat(p.hostDir)).rejects.toThrow();
    expect(await listFiles(path.join(p.cacheDir, 'tmp'))).toEqual([]);
    expect(server.requests.length - before).toBe(3);

    const again = await runCliCaptured(['warm', '--manifest', p.manifest, '--json']);
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout) as WarmReport;
    expect(second.totals).toMatchObject({ blobs: 3, present: 3, fetched: 0, bytesTransferred: 0 });
    expect(second.key).toBe(report.key);
    expect(server.requests.length - before).toBe(3);
  });

  it('registers the warmed blobs in the store: gc run by another project keeps them while the manifest exists, then removes them', async () => {
    const dir = await tempDir();
    const store = path.join(dir, 'shared-store');
    const ci = path.join(dir, 'ci.yaml');
    await fs.writeFile(ci, manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }], cacheDir: store, hostDir: 'never-created' }));
    const other = path.join(dir, 'other', 'models.yaml');
    await fs.mkdir(path.dirname(other));
    await fs.writeFile(other, manifestYaml({ artifacts: [artifacts[2]!], sources: [{ name: 'mirror', url: server.url }], cacheDir: store }));
    expect((await runCliCaptured(['warm', '--manifest', ci])).code).toBe(0);
    const warmed = artifacts.filter((a) => !a.optional).flatMap((a) => a.files.map((f) => blobPath(store, sha256(f.data))));
    expect(warmed).toHaveLength(3);
    for (const b of warmed) await fs.stat(b);

    // the other project's gc, told to remove unreferenced blobs, keeps what warm registered
    const gc = await runCliCaptured(['gc', '--manifest', other, '--yes']);
    expect(gc.code, gc.stderr).toBe(0);
    for (const b of warmed) await fs.stat(b);
    expect(gc.stdout + gc.stderr).toContain(`Kept 3 blobs for ${ci} (warmed by \`warm\`; kept while the manifest exists)`);
    const json = JSON.parse((await runCliCaptured(['gc', '--manifest', other, '--yes', '--json'])).stdout);
    expect(json.kept.projects).toEqual([expect.objectContaining({ manifest: ci, blobs: 3, warm: true })]);

    // the warming manifest is gone: its registration is forgotten and its blobs go
    await fs.rm(ci);
    const after = await runCliCaptured(['gc', '--manifest', other, '--yes']);
    expect(after.code, after.stderr).toBe(0);
    for (const b of warmed) await expect(fs.stat(b)).rejects.toThrow();
  });

  it('re-fetches a blob that went bad in the store (it verifies what it keeps)', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    expect((await runCliCaptured(['warm', '--manifest', p.manifest, '--only', 'student/v0_en'])).code).toBe(0);
    const blob = blobPath(p.cacheDir, sha256(artifacts[1]!.files[0]!.data));
    await fs.chmod(blob, 0o644);
    const bytes = await fs.readFile(blob);
    bytes[10] = bytes[10]! ^ 0xff;
    await fs.writeFile(blob, bytes);
    const r = await runCliCaptured(['warm', '--manifest', p.manifest, '--only', 'student/v0_en', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as WarmReport).totals).toMatchObject({ fetched: 1, present: 0 });
    expect(sha256(await fs.readFile(blob))).toBe(sha256(artifacts[1]!.files[0]!.data));
  });

  it('prints a human summary with the key, and never asks even on a terminal', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const r = await runCliCaptured(['warm', '--manifest', p.manifest], { isTTY: true, env: { CI: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^OK: 3 blobs .* 3 fetched/m);
    expect(r.stdout).toMatch(/^Cache key: modelmount-v1-[0-9a-f]{64}$/m);
  });

  it('exits 3 naming the file when no source has it', async () => {
    const missing: TestArtifact[] = [{ id: 'gone/v1', files: [{ path: 'w.bin', data: Buffer.from('not on the server') }] }];
    const p = await tempProject(manifestYaml({ artifacts: missing, sources: [{ name: 'mirror', url: server.url }] }));
    const r = await runCliCaptured(['warm', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout) as WarmReport;
    expect(report.ok).toBe(false);
    expect(report.blobs[0]).toMatchObject({ status: 'failed', files: ['gone/v1/w.bin'] });
    expect(JSON.stringify(report.errors)).toContain('gone/v1/w.bin');
  });

  describe('--key', () => {
    it('is stable across runs, comments, descriptions, labels and source URLs', async () => {
      const base = manifestYaml({ artifacts, sources: [{ name: 'mirror', url: 'https://models.example.com/ml/' }] });
      const k1 = await keyOf(base);
      expect(k1).toMatch(KEY_RE);
      expect(await keyOf(base)).toBe(k1);
      const other = await tempDir();
      const variant = `# a comment that changes nothing\n${manifestYaml({
        artifacts: artifacts.map((a) => ({ ...a, labels: { ...a.labels, extra: 'x' } })),
        sources: [
          { name: 'nfs', url: other },
          { name: 'elsewhere', url: 'https://mirror.example.org/models/' },
        ],
        hostDir: 'somewhere/else',
        cacheDir: 'another/cache',
      })}`.replace('- id: student/v0_en', '- id: student/v0_en # English\n    description: "described now"');
      expect(variant).toContain('described now');
      expect(await keyOf(variant)).toBe(k1);
    });

    it('does not depend on the order of artifacts or files in the manifest', async () => {
      const k1 = await keyOf(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
      const reordered = [artifacts[1]!, { ...artifacts[0]!, files: [...artifacts[0]!.files].reverse() }, artifacts[2]!];
      expect(await keyOf(manifestYaml({ artifacts: reordered, sources: [{ name: 'mirror', url: server.url }] }))).toBe(k1);
    });

    it('changes when a digest changes, and with the selection', async () => {
      const sources = [{ name: 'mirror', url: server.url }];
      const k1 = await keyOf(manifestYaml({ artifacts, sources }));
      const changed = artifacts.map((a, i) => (i === 1 ? { ...a, files: [{ path: 'model.safetensors', data: Buffer.from('new bytes') }] } : a));
      const k2 = await keyOf(manifestYaml({ artifacts: changed, sources }));
      expect(k2).toMatch(KEY_RE);
      expect(k2).not.toBe(k1);
      const k3 = await keyOf(manifestYaml({ artifacts, sources }), ['--only', 'student/v0_ja']);
      expect(k3).not.toBe(k1);
      // --json form
      const p = await tempProject(manifestYaml({ artifacts, sources }));
      const r = await runCliCaptured(['warm', '--manifest', p.manifest, '--key', '--json']);
      expect(JSON.parse(r.stdout)).toEqual({ command: 'warm', ok: true, key: k1, selection: ['student/v0_ja', 'student/v0_en'] });
    });
  });
});
