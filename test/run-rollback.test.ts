/**
 * rollback's failures (lib/releases/run-rollback.ts) reach stderr in every mode, --json included, as
 * update's do: stdout holds only the document. No Docker engine needed (--no-smoke).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manifestYaml, runCliCaptured, serverFiles, tempProject, type TestArtifact } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const model = (v: string): TestArtifact => ({ id: 'model/m', files: [{ path: 'w.bin', data: Buffer.from(`${v}\n`) }] });
const COMPOSE = 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: compose.models.yaml\n  containerDir: /models';

let server: FaultServer;
beforeEach(async () => {
  server = await startFaultServer({ files: serverFiles([model('v1')]) });
});
afterEach(() => server.close());

describe('rollback', () => {
  it('--json: a failed step (a foreign file where the override goes) is on stderr too, and in the document', async () => {
    const p = await tempProject(manifestYaml({ artifacts: [model('v1')], sources: [{ name: 'mirror', url: server.url }], extra: COMPOSE }));
    await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
    const env = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-smoke'], { env })).code).toBe(0);
    for (const [q, data] of Object.entries(serverFiles([model('v2')]))) server.setFile(q, data);
    await fs.writeFile(p.manifest, manifestYaml({ artifacts: [model('v2')], sources: [{ name: 'mirror', url: server.url }], extra: COMPOSE }));
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-smoke'], { env })).code).toBe(0);
    await fs.writeFile(path.join(p.dir, 'compose.models.yaml'), 'services: {}\n');
    const r = await runCliCaptured(['rollback', '--manifest', p.manifest, '--no-smoke', '--json'], { env });
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/^✖ .*compose\.models\.yaml/m);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'EOVERRIDE_FOREIGN' } });
  });
});
