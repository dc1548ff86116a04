/**
 * Ctrl+C while `apply` smoke-tests the services it recreated on a new release set: the run ends
 * (exit 130) where it is, and says so truly — the services run the new set, not smoke-tested — with
 * no claim of a switch back it never made.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { manifestYaml, runCliCaptured, serverFiles, tempProject, type TestArtifact } from './helpers/cli.ts';
import { buildBusyboxImage, cleanupDocker, describeDocker, itDocker, sh, testRunId } from './helpers/docker.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const IMAGE = `modelmount-test-busybox-int:${testRunId}`;
const PROJECT = `mmapplyint${testRunId}`;
const model = (v: string): TestArtifact => ({ id: 'model/m', files: [{ path: 'w.bin', data: Buffer.from(`${v}\n`) }] });
const EXTRA = ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /models', 'smoke:', '  command: [sh, -c, "sleep 60"]', '  timeoutSeconds: 120'].join('\n');

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer({ files: {} });
});
afterAll(async () => {
  await server?.close().catch(() => {});
  await cleanupDocker({ composeProjects: [PROJECT] });
});

describeDocker('apply interrupted during its smoke test', () => {
  itDocker(
    'exits 130, leaves the services on the new set and says so (smoke, or rollback), never "switching back"',
    async () => {
      await buildBusyboxImage(IMAGE);
      const p = await tempProject('');
      const env = { COMPOSE_PROJECT_NAME: PROJECT };
      const serve = (v: string) => {
        for (const [f, data] of Object.entries(serverFiles([model(v)]))) server.setFile(f, data);
      };
      const write = (v: string) => fs.writeFile(p.manifest, manifestYaml({ artifacts: [model(v)], sources: [{ name: 'mirror', url: server.url }], extra: EXTRA }));
      await fs.writeFile(path.join(p.dir, 'compose.yaml'), `services:\n  worker:\n    image: ${IMAGE}\n    command: [sleep, '100000']\n    network_mode: none\n`);
      const cli = (args: string[], signal?: AbortSignal) => runCliCaptured([...args, '--manifest', p.manifest], { env, cwd: p.dir, ...(signal ? { signal } : {}) });
      serve('v1');
      await write('v1');
      expect((await cli(['update', '--yes', '--no-smoke'])).code).toBe(0);
      const engine = (await sh`docker compose version`).exitCode === 0 && !process.env.MODELS_COMPOSE ? ['docker', 'compose'] : ['docker-compose'];
      const up = await sh({ cwd: p.dir, env: { ...process.env, ...env } })`${[...engine, '-f', 'compose.yaml', '-f', 'compose.models.yaml', 'up', '-d']}`;
      expect(up.exitCode, up.stderr).toBe(0);
      serve('v2');
      await write('v2');
      const second = await cli(['update', '--yes', '--no-smoke', '--json']);
      expect(second.code, second.stderr).toBe(0);
      const newSet = (JSON.parse(second.stdout) as { release: { set: string } }).release.set;

      const ac = new AbortController();
      const pressCtrlC = (async () => {
        for (let i = 0; i < 300; i++) {
          const running = (await sh`docker ps -q --filter ${'label=io.modelmount.smoke'} --filter ${`label=com.docker.compose.project=${PROJECT}`}`).stdout.trim();
          if (running) return ac.abort(new DOMException('Interrupted', 'AbortError'));
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const applied = await cli(['apply'], ac.signal);
      await pressCtrlC;
      expect(ac.signal.aborted, 'the smoke container never started').toBe(true);
      expect(applied.code, applied.stderr).toBe(130);
      expect(applied.stderr).not.toMatch(/Switching back/);
      expect(applied.stderr).toMatch(/not smoke-tested/);
      expect(applied.stderr).toContain('rollback');
      const status = JSON.parse((await cli(['status', '--json'])).stdout) as { releases: { current: string } };
      expect(status.releases.current).toBe(newSet);
    },
    300_000,
  );
});
