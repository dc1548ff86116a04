/** The pure parts of `modelmount swarm`: job spec, mounts, label plan, exit status, result line, override. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseManifest } from '../lib/manifest/load.ts';
import { selectionDigest } from '../lib/manifest/digest.ts';
import { parseNodeResult, NODE_RESULT_PREFIX } from '../lib/fleet/swarm/node-run.ts';
import { planNodes, provisionExit, provisionJobSpec, provisionMounts, setConstraint } from '../lib/fleet/swarm/provision.ts';
import { renderSwarmOverride } from '../lib/fleet/swarm/override.ts';
import { smokeJobSpec } from '../lib/fleet/swarm/smoke.ts';
import type { JobTask, SwarmNode } from '../lib/fleet/swarm/job.ts';
import { manifestYaml, runCliCaptured, sampleArtifacts, tempProject } from './helpers/cli.ts';

const artifacts = sampleArtifacts({ ja: 10, en: 20, teacher: 30 });
const text = manifestYaml({
  artifacts,
  sources: [{ name: 'lan', url: 'https://models.example/', tokenEnv: 'MODELS_TOKEN' }],
  hostDir: '/srv/models',
  cacheDir: '/var/cache/modelmount',
  extra: 'compose:\n  files: [compose.yaml]\n  services: [worker, api]\n  override: models.override.yaml\n  containerDir: /app/models\nsmoke:\n  command: ["python", "-m", "app.check"]',
});
const manifest = parseManifest(text, '/proj/models.yaml');
const selected = manifest.artifacts.filter((a) => !a.optional);
const digest = selectionDigest(selected);

const node = (id: string, labels: Record<string, string> = {}): SwarmNode => ({ id, hostname: `host-${id}`, state: 'ready', availability: 'active', role: 'worker', labels });
const okLine = (set: string, installed = 0) => `${NODE_RESULT_PREFIX}${JSON.stringify({ ok: true, set, artifacts: [], installed, bytesTransferred: 0 })}`;
const task = (nodeId: string, over: Partial<JobTask> = {}): JobTask => ({ nodeId, taskId: `t-${nodeId}`, outcome: 'complete', exitCode: 0, logs: [okLine(digest)], ...over });

describe('provisionMounts', () => {
  it('mounts the parents of host folder and store at the same paths, once when one holds the other', () => {
    expect(provisionMounts('/srv/models', '/var/cache/modelmount')).toEqual([
      { source: '/srv', target: '/srv' },
      { source: '/var/cache', target: '/var/cache' },
    ]);
    expect(provisionMounts('/data/models/host', '/data/models/store')).toEqual([{ source: '/data/models', target: '/data/models' }]);
    expect(provisionMounts('/data/a/host', '/data/store')).toEqual([{ source: '/data', target: '/data' }]);
  });
});

describe('provisionJobSpec', () => {
  const spec = provisionJobSpec({
    manifest,
    manifestText: text,
    artifacts: selected,
    image: 'modelmount:1',
    hostDir: '/srv/models',
    cacheDir: '/var/cache/modelmount',
    constraints: ['node.labels.gpu==true'],
    retries: 0,
    tokens: { MODELS_TOKEN: 's3cret' },
  });
  it('asks each node for exactly the selected ids, into the given folders', () => {
    expect(spec.args).toEqual(['swarm', 'node-run', '--manifest', '/modelmount/manifest/models.yaml', '--host-dir', '/srv/models', '--cache-dir', '/var/cache/modelmount', '--only', 'student/v0_ja,student/v0_en', '--retries', '0']);
    expect(spec.constraints).toEqual(['node.labels.gpu==true']);
    expect(spec.configs).toEqual([{ content: text, target: '/modelmount/manifest/models.yaml' }]);
  });
  it('hands tokens over as secrets, never in arguments or environment', () => {
    expect(spec.secrets).toEqual([{ content: 's3cret', target: 'MODELS_TOKEN' }]);
    expect(JSON.stringify({ ...spec, secrets: [] })).not.toContain('s3cret');
  });
  it('refuses a relative or root host folder', () => {
    expect(() => provisionJobSpec({ manifest, manifestText: text, artifacts: selected, image: 'i', hostDir: 'models', cacheDir: '/c', constraints: [], tokens: {} })).toThrow(/absolute/);
    expect(() => provisionJobSpec({ manifest, manifestText: text, artifacts: selected, image: 'i', hostDir: '/', cacheDir: '/c', constraints: [], tokens: {} })).toThrow(/absolute/);
  });
});

describe('planNodes', () => {
  it('labels a node only with a result line naming this set; others lose the label', () => {
    const nodes = [node('a'), node('b', { 'modelmount.set': digest }), node('c', { 'modelmount.set': digest }), node('d', { 'modelmount.set': 'old' }), node('e')];
    const tasks = [
      task('a', { logs: [okLine(digest, 3)] }),
      task('b'),
      task('c', { exitCode: 3, outcome: 'failed', logs: [`${NODE_RESULT_PREFIX}${JSON.stringify({ ok: false, artifacts: [], installed: 0, bytesTransferred: 0, error: { code: 'ESOURCES', message: 'Could not get x' } })}`] }),
      task('d', { logs: [okLine('another-set')] }),
      task('e', { outcome: 'rejected', exitCode: undefined, error: 'invalid mount config for type "bind": bind source path does not exist: /srv', logs: [] }),
    ];
    const plan = planNodes(nodes, tasks, digest, { constrained: false });
    expect(plan.map((p) => [p.id, p.state, p.label])).toEqual([
      ['a', 'verified', 'added'],
      ['b', 'verified', 'kept'],
      ['c', 'failed', 'removed'],
      ['d', 'failed', 'removed'],
      ['e', 'rejected', 'absent'],
    ]);
    expect(plan[0]!.installed).toBe(3);
    expect(plan[2]!.error).toEqual({ code: 'ESOURCES', message: 'Could not get x' });
    expect(plan[4]!.error!.message).toContain('bind source path does not exist');
    expect(provisionExit(plan)).toBe(3);
  });
  it('a node without a task loses the label, unless a constraint left it out of the run', () => {
    const nodes = [node('a', { 'modelmount.set': digest }), node('b')];
    expect(planNodes(nodes, [task('b')], digest, { constrained: false })[0]).toMatchObject({ state: 'not-run', label: 'removed' });
    const constrained = planNodes(nodes, [task('b')], digest, { constrained: true });
    expect(constrained[0]).toMatchObject({ state: 'not-run', label: 'untouched' });
    expect(provisionExit(constrained)).toBe(0);
  });
  it('exit 7 when Swarm refused or lost a task', () => {
    expect(provisionExit(planNodes([node('a')], [task('a', { outcome: 'timeout', exitCode: undefined })], digest, { constrained: false }))).toBe(7);
  });
});

describe('parseNodeResult', () => {
  it('reads the last result line, wherever Docker put it in the log line', () => {
    expect(parseNodeResult(['noise', `2026-01-01T00:00:00Z ${okLine('x')}`])?.set).toBe('x');
    expect(parseNodeResult(['noise'])).toBeUndefined();
    expect(parseNodeResult([`${NODE_RESULT_PREFIX}{broken`])).toBeUndefined();
  });
});

describe('renderSwarmOverride', () => {
  it('adds the placement constraint on the set label to every listed service, with read-only binds', () => {
    const out = renderSwarmOverride({ manifest, artifacts: selected, baseVersion: '3.9' });
    const doc = parse(out) as { version: string; services: Record<string, { deploy: { placement: { constraints: string[] } }; volumes: { read_only: boolean; source: string }[] }> };
    expect(doc.version).toBe('3.9');
    expect(Object.keys(doc.services).sort()).toEqual(['api', 'worker']);
    for (const svc of Object.values(doc.services)) {
      expect(svc.deploy.placement.constraints).toEqual([setConstraint(digest)]);
      expect(svc.volumes.every((v) => v.read_only && v.source.startsWith(`/srv/models${path.sep}`))).toBe(true);
    }
    expect(out.startsWith('# Generated by modelmount')).toBe(true);
    expect(parse(renderSwarmOverride({ manifest, artifacts: selected }))).not.toHaveProperty('version');
  });
});

describe('smokeJobSpec', () => {
  it('runs smoke.command with the override\'s mounts and variables, only where the set label is', () => {
    const spec = smokeJobSpec(manifest, selected, 'app:1', '/srv/models');
    expect(spec.entrypoint).toBe('python');
    expect(spec.args).toEqual(['-m', 'app.check']);
    expect(spec.constraints).toEqual([setConstraint(digest)]);
    expect(spec.mounts).toContainEqual({ source: '/srv/models/student/v0_ja', target: '/app/models/student/v0_ja', readOnly: true });
    expect(spec.env).toEqual({ LEARNING_MACHINE_STUDENT_JA_DIR: '/app/models/student/v0_ja', LEARNING_MACHINE_STUDENT_EN_DIR: '/app/models/student/v0_en' });
  });
});

describe('swarm override (the CLI)', () => {
  it('--json without -o prints one JSON document holding the YAML, not the YAML itself', async () => {
    const artifacts = sampleArtifacts({ ja: 10, en: 10, teacher: 10 });
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: 'https://models.example.com/' }], extra: 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: compose.models.yaml\n  containerDir: /models' }));
    await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
    const r = await runCliCaptured(['swarm', 'override', '--json', '--manifest', p.manifest]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { command: string; ok: boolean; yaml: string };
    expect(doc).toMatchObject({ command: 'swarm override', ok: true });
    expect(parse(doc.yaml).services.worker).toBeDefined();
    const plain = await runCliCaptured(['swarm', 'override', '--manifest', p.manifest]);
    expect(plain.stdout).toBe(doc.yaml);
  });
});
