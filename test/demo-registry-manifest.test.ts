/**
 * lib/demo/registry-manifest.ts: the demo's registry manifest names the digest publish returned and
 * asks the registry nothing (a registry that does not answer cannot fail it).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeRegistryManifest } from '../lib/demo/registry-manifest.ts';
import { loadManifest } from '../lib/manifest/load.ts';
import { DEMO_MANIFEST } from '../lib/demo/run-demo.ts';
import { tempDir } from './helpers/cli.ts';

describe('writeRegistryManifest', () => {
  it('writes the demo set with the pinned source as its only one, its own host folder and store, no Compose side', async () => {
    const dir = await tempDir('mm-demo-oci-');
    const to = path.join(dir, 'demo-oci.yaml');
    // port 9 (discard): nothing listens there, so any request would fail
    const pinned = `oci://127.0.0.1:9/demo/models@sha256:${'ab'.repeat(32)}`;
    await writeRegistryManifest({ from: DEMO_MANIFEST, to, pinned, hostDir: 'oci-artifacts', cacheDir: 'oci-cache' });
    const m = await loadManifest(to);
    const demo = await loadManifest(DEMO_MANIFEST);
    expect(m.sources.map((s) => [s.name, s.kind, s.base])).toEqual([['demo-registry', 'oci', pinned]]);
    expect(m.hostDir).toBe(path.join(dir, 'oci-artifacts'));
    expect(m.cacheDir).toBe(path.join(dir, 'oci-cache'));
    expect(m.compose).toBeUndefined();
    expect(m.artifacts.map((a) => a.id)).toEqual(demo.artifacts.map((a) => a.id));
    expect(await fs.readFile(to, 'utf8')).toMatch(/^# The demo set pulled from a local OCI registry/);
  });
});
