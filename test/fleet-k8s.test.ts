/**
 * `modelmount k8s render`: every object validated against the official Kubernetes OpenAPI schemas
 * (npm kubernetes-models; no API server can run here), and the initContainer pattern EXECUTED
 * with `podman kube play`. Podman is a Pod executor used for this test, not Kubernetes: it runs
 * the rendered Pod (init container installs + verifies into an emptyDir, the app container reads
 * it read-only), which shows the YAML does what it says; scheduling, Deployments and PVCs are not
 * exercised by it. Podman 4.3 defects worked around here (not Kubernetes rules): annotation values
 * over 63 characters are refused (the digest annotation is dropped for the play), a Secret inside
 * the played YAML is unusable by secretKeyRef (the token Secret is created with `podman secret create`),
 * and the played Pod uses restartPolicy Never (with Always it restarts the finished init container).
 * The model source is a loopback server, so the played pod uses hostNetwork.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { ConfigMap, PersistentVolumeClaim, Pod } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { buildBusyboxImage, sh, testRunId } from './helpers/docker.ts';
import { manifestYaml, runCliCaptured, sha256, tempDir, type TestArtifact } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';
import { describeFleet } from './helpers/swarm-fixture.ts';
import { parseManifest } from '../lib/manifest/load.ts';
import { selectionDigest } from '../lib/manifest/digest.ts';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: any; data?: any };

const root = path.resolve(import.meta.dirname, '..');
const weights = Buffer.from(`k8s fleet weights ${testRunId}\n`.repeat(500));
const artifacts: TestArtifact[] = [{ id: 'student/v0_ja', env: 'STUDENT_DIR', files: [{ path: 'model.bin', data: weights }] }];

const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
};

function validate(o: Obj): void {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}

function docs(yaml: string): Obj[] {
  return parseAllDocuments(yaml).map((d) => d.toJS() as Obj);
}

async function project(url: string): Promise<{ dir: string; manifestPath: string }> {
  const dir = await tempDir('mmfleet-k8s-');
  await fs.writeFile(path.join(dir, 'compose.yaml'), `services:\n  worker:\n    image: mmfleet-${testRunId}-k8sapp:t1\n`);
  const manifestPath = path.join(dir, 'models.yaml');
  await fs.writeFile(
    manifestPath,
    manifestYaml({
      artifacts,
      sources: [{ name: 'lan', url, tokenEnv: 'MODELS_TOKEN' }],
      hostDir: '/srv/models',
      extra: 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: models.override.yaml\n  containerDir: /app/models',
    }),
  );
  return { dir, manifestPath };
}

describe('k8s render: valid against the Kubernetes schemas', () => {
  let dir = '';
  let manifestPath = '';
  let digest = '';
  beforeAll(async () => {
    ({ dir, manifestPath } = await project('https://models.example/'));
    digest = selectionDigest(parseManifest(await fs.readFile(manifestPath, 'utf8'), manifestPath).artifacts);
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));
  const render = async (...args: string[]) => {
    const r = await runCliCaptured(['k8s', 'render', '--manifest', manifestPath, '--image', 'reg.example/modelmount:1', ...args], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    return docs(r.stdout);
  };

  it('the validator catches a broken object (the check can fail)', () => {
    const bad: Obj = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'a', image: 'b', volumeMounts: [{ name: 'm', mountPath: '/m', readOnly: 'yes' }] }] } };
    expect(() => validate(bad)).toThrow(/readOnly/);
  });

  it('init pattern (Deployment + emptyDir): the initContainer fills the volume the app mounts readOnly; labels and annotations carry the set', async () => {
    const objs = await render();
    expect(objs.map((o) => o.kind)).toEqual(['ConfigMap', 'Deployment']);
    for (const o of objs) validate(o);
    const [cm, dep] = objs as [Obj, Obj];
    expect(cm.data['models.yaml']).toBe(await fs.readFile(manifestPath, 'utf8'));
    const pod = dep.spec.template.spec;
    const init = pod.initContainers[0];
    expect(init.image).toBe('reg.example/modelmount:1');
    expect(init.args).toEqual(['swarm', 'node-run', '--manifest', '/modelmount/manifest/models.yaml', '--host-dir', '/models', '--cache-dir', '/var/cache/modelmount', '--only', 'student/v0_ja']);
    expect(init.env).toEqual([{ name: 'MODELS_TOKEN', valueFrom: { secretKeyRef: { name: 'worker-tokens', key: 'MODELS_TOKEN', optional: true } } }]);
    expect(pod.containers[0].volumeMounts).toEqual([{ name: 'models', mountPath: '/app/models', readOnly: true }]);
    expect(pod.containers[0].env).toEqual([{ name: 'STUDENT_DIR', value: '/app/models/student/v0_ja' }]);
    expect(pod.volumes).toContainEqual({ name: 'models', emptyDir: {} });
    for (const o of [cm, dep, dep.spec.template]) {
      expect(o.metadata.annotations!['modelmount.io/set-digest']).toBe(digest);
      expect(o.metadata.labels!['modelmount.io/set']).toBe(digest.slice(0, 32));
      for (const v of Object.values(o.metadata.labels as Record<string, string>)) expect(v.length).toBeLessThanOrEqual(63);
    }
  });

  it('init pattern with hostPath: the node folder, created if missing', async () => {
    const objs = await render('--volume', 'hostPath', '--kind', 'Pod');
    for (const o of objs) validate(o);
    expect(objs[1]!.spec.volumes).toContainEqual({ name: 'models', hostPath: { path: '/srv/models', type: 'DirectoryOrCreate' } });
    expect(objs[1]!.spec.volumes).toContainEqual({ name: 'modelmount-store', hostPath: { path: '/var/cache/modelmount', type: 'DirectoryOrCreate' } });
  });

  it('pvc pattern: a Job fills the claim once, the app pods mount it readOnly (ReadOnlyMany)', async () => {
    const objs = await render('--pattern', 'pvc');
    expect(objs.map((o) => o.kind)).toEqual(['ConfigMap', 'PersistentVolumeClaim', 'Job', 'Deployment']);
    for (const o of objs) validate(o);
    const [, pvc, job, dep] = objs as [Obj, Obj, Obj, Obj];
    expect(pvc.spec.accessModes).toContain('ReadOnlyMany');
    expect(job.metadata.name).toBe(`worker-fill-${digest.slice(0, 10)}`);
    expect(job.spec.template.spec.volumes).toContainEqual({ name: 'models', persistentVolumeClaim: { claimName: 'worker-models' } });
    expect(dep.spec.template.spec.volumes).toEqual([{ name: 'models', persistentVolumeClaim: { claimName: 'worker-models', readOnly: true } }]);
    expect(dep.spec.template.spec.containers[0].volumeMounts[0].readOnly).toBe(true);
  });

  it('refuses an unknown pattern with the choices', async () => {
    const r = await runCliCaptured(['k8s', 'render', '--manifest', manifestPath, '--pattern', 'sidecar'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('init, pvc');
  });
});

function podmanUnavailable(): string | undefined {
  if (spawnSync('podman', ['--version']).status !== 0) return 'podman is not installed (apt-get install podman catatonit)';
  if (spawnSync('sh', ['-c', 'command -v catatonit || test -x /usr/libexec/podman/catatonit']).status !== 0) return 'catatonit is not installed';
  if (spawnSync('docker', ['info']).status !== 0) return 'no Docker engine (the images are built with docker)';
  return undefined;
}

const noPodman = podmanUnavailable();

function podmanSuite(): void {
  let server: FaultServer;
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  const mmImage = `mmfleet-${testRunId}-k8smm:t1`;
  const appImage = `mmfleet-${testRunId}-k8sapp:t1`;
  const secret = `mmfleet-${testRunId}-tokens`;
  const podman = (args: string[]) => spawnSync('podman', args, { encoding: 'utf8', env, timeout: 300_000 });

  beforeAll(async () => {
    server = await startFaultServer({ files: { '/student/v0_ja/model.bin': weights } });
    let manifestPath: string;
    ({ dir, manifestPath } = await project(server.url));
    await fs.writeFile(path.join(dir, 'containers.conf'), '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n');
    env = { ...process.env, CONTAINERS_CONF: path.join(dir, 'containers.conf') };
    execFileSync(path.join(root, 'lib/fleet/image/build-local.sh'), [mmImage], { stdio: 'pipe' });
    await buildBusyboxImage(appImage);
    for (const image of [mmImage, appImage]) {
      const load = await sh({ env })`docker save ${image} | podman load -q`;
      if (load.exitCode !== 0) throw new Error(`podman load ${image}: ${load.stderr}`);
    }
    // the token Secret, as Kubernetes would hold it: key → base64 value
    const secretFile = path.join(dir, 'secret.json');
    await fs.writeFile(secretFile, JSON.stringify({ MODELS_TOKEN: Buffer.from('k8s-token-1').toString('base64') }));
    const made = podman(['secret', 'create', secret, secretFile]);
    await fs.rm(secretFile);
    if (made.status !== 0) throw new Error(`podman secret create: ${made.stderr}`);

    const r = await runCliCaptured(['k8s', 'render', '--manifest', manifestPath, '--image', mmImage, '--kind', 'Pod', '--restart-policy', 'Never', '--name', `mmfleet-${testRunId}`], { cwd: dir });
    if (r.code !== 0) throw new Error(r.stderr);
    const objs = docs(r.stdout);
    for (const o of objs) {
      validate(o);
      delete o.metadata.annotations; // podman 4.3 refuses annotation values over 63 characters
    }
    const pod = objs[1]!;
    pod.spec.hostNetwork = true; // the source is a loopback server
    // the app: load the model (compare its digest) and show that the mount is read-only
    pod.spec.containers[0].command = ['sh', '-c', `test "$(sha256sum "$STUDENT_DIR/model.bin" | cut -d' ' -f1)" = ${sha256(weights)} && echo loaded; touch "$STUDENT_DIR/x" 2>/dev/null || echo read-only`];
    await fs.writeFile(path.join(dir, 'play.yaml'), objs.map((o) => stringify(o)).join('---\n'));
  }, 300_000);

  afterAll(async () => {
    if (dir) podman(['kube', 'down', path.join(dir, 'play.yaml')]);
    podman(['secret', 'rm', secret]);
    podman(['rmi', '-f', `localhost/${mmImage}`, `localhost/${appImage}`]);
    await sh`docker rmi -f ${mmImage} ${appImage}`;
    await server?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('podman kube play: the init container installs and verifies with the Secret token, the app reads the models read-only', async () => {
    // asynchronously: the model source answers from this very process
    const play = await sh({ env })`podman kube play ${path.join(dir, 'play.yaml')}`;
    // on failure: the init container's own report (podman keeps a failed one)
    expect(play.exitCode, `${play.stderr}\n${podman(['logs', `mmfleet-${testRunId}-modelmount`]).stdout}`).toBe(0);
    const app = `mmfleet-${testRunId}-worker`;
    let state = '';
    for (let i = 0; i < 120 && state !== 'exited'; i++) {
      state = podman(['inspect', '-f', '{{.State.Status}}', app]).stdout.trim();
      if (state !== 'exited') await new Promise((r) => setTimeout(r, 1000));
    }
    const logs = podman(['logs', app]);
    expect(logs.stdout + logs.stderr).toContain('loaded');
    expect(logs.stdout).toContain('read-only');
    expect(podman(['inspect', '-f', '{{.State.ExitCode}}', app]).stdout.trim()).toBe('0');
    const fetched = server.requestsTo('/student/v0_ja/model.bin');
    expect(fetched.length).toBeGreaterThan(0);
    expect(fetched[0]!.headers.authorization).toBe('Bearer k8s-token-1');
  }, 300_000);
}

describeFleet('k8s render: the initContainer pattern run by podman kube play (a Pod executor, not Kubernetes)', noPodman, podmanSuite);
