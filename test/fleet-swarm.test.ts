/**
 * `modelmount swarm` on a real Swarm: Docker-in-Docker nodes on an --internal network (test/helpers/swarm-fixture.ts),
 * the modelmount image built locally (lib/fleet/image/build-local.sh) and loaded into each node, and the model
 * source a busybox httpd container on that network. One swarm for the whole file, in order:
 *   1. two nodes, the second cut off from the source: provision labels only the first and names the second;
 *   2. a stack deploy with the Swarm override places the worker only on the labelled node, and it loads its models;
 *   3. the second node reaches the source again and a third joins: the next run provisions all three (the first
 *      is a no-op), the worker spreads to them;
 *   4. swarm smoke runs the app's check on every labelled node.
 * Skipped without Docker or the node image (.ci/build-swarm-node-image); failed instead under MODELMOUNT_REQUIRE_SWARM=1.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildBusyboxImage, sh, testRunId, TEST_LABEL } from './helpers/docker.ts';
import { manifestYaml, runCliCaptured, sha256, tempDir, writeSourceTree, type TestArtifact } from './helpers/cli.ts';
import { describeFleet, swarmUnavailable, TestSwarm, type SwarmNodeHandle } from './helpers/swarm-fixture.ts';
import type { ProvisionReport } from '../lib/fleet/swarm/provision.ts';
import type { SwarmSmokeReport } from '../lib/fleet/swarm/smoke.ts';
import type { SwarmStatusReport } from '../lib/fleet/swarm/status.ts';

const why = swarmUnavailable();
const root = path.resolve(import.meta.dirname, '..');

const weights = Buffer.from(`weights of the fleet test ${testRunId}\n`.repeat(2000));
const artifacts: TestArtifact[] = [
  { id: 'student/v0_ja', env: 'STUDENT_DIR', files: [{ path: 'model.bin', data: weights }, { path: 'config.json', data: Buffer.from('{"lang":"ja"}\n') }] },
];
const CHECK = `test "$(sha256sum "$STUDENT_DIR/model.bin" | cut -d' ' -f1)" = ${sha256(weights)} && echo "loaded $STUDENT_DIR"`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function suite(): void {
  let swarm: TestSwarm;
  let dir: string;
  let srcIp = '';
  const mmImage = `mmfleet-${testRunId}-modelmount`;
  const appImage = `mmfleet-${testRunId}-app`;
  const srcName = `mmfleet-${testRunId}-src`;
  const stack = `mmfleet${testRunId}`;
  let manifestPath = '';

  const cli = (args: string[]) =>
    runCliCaptured(['swarm', ...args, '--manifest', manifestPath], { env: { DOCKER_HOST: swarm.manager.dockerHost }, cwd: dir });
  const provision = async (extra: string[] = []) => {
    const r = await cli(['provision', '--image', mmImage, '--retries', '0', '--timeout', '300', ...extra]);
    return { ...r, report: (extra.includes('--json') ? JSON.parse(r.stdout) : undefined) as ProvisionReport | undefined };
  };
  const labelOf = async (node: SwarmNodeHandle) =>
    (await swarm.on(swarm.manager)`docker node inspect -f ${'{{index .Spec.Labels "modelmount.set"}}'} ${node.name}`).stdout.trim();
  const prepareNode = async () => {
    const n = await swarm.addNode();
    await swarm.loadImage(n, mmImage);
    await swarm.loadImage(n, appImage);
    return n;
  };
  /** nodes that run a task of the worker service, once every node that should has one running */
  const workerNodes = async (expected: number): Promise<string[]> => {
    let running: string[] = [];
    for (let i = 0; i < 240; i++) {
      const ps = await swarm.on(swarm.manager)`docker service ps --filter desired-state=running --format ${'{{.Node}} {{.CurrentState}}'} ${`${stack}_worker`}`;
      running = ps.stdout.split('\n').filter((l) => / Running /.test(l));
      if (running.length >= expected) break;
      await sleep(1000);
    }
    const all = await swarm.on(swarm.manager)`docker service ps --no-trunc ${`${stack}_worker`}`;
    return running.length >= expected ? running.map((l) => l.split(' ')[0]!).sort() : [`(only ${running.length} running)`, all.stdout];
  };

  beforeAll(async () => {
    dir = await tempDir('mmfleet-');
    execFileSync(path.join(root, 'lib/fleet/image/build-local.sh'), [mmImage], { stdio: 'pipe' });
    await buildBusyboxImage(appImage);
    const www = path.join(dir, 'www');
    await writeSourceTree(www, artifacts);
    swarm = await TestSwarm.create(path.join(dir, 'nodes'));
    const src = await sh`docker run -d --name ${srcName} --network ${swarm.network} --label ${`${TEST_LABEL}=${testRunId}`} -v ${`${www}:/www:ro`} ${appImage} httpd -f -p 8080 -h /www`;
    if (src.exitCode !== 0) throw new Error(`model source container: ${src.stderr}`);
    srcIp = (await sh`docker inspect -f ${`{{(index .NetworkSettings.Networks "${swarm.network}").IPAddress}}`} ${srcName}`).stdout.trim();
    await prepareNode();
    await prepareNode();
    await swarm.block(swarm.nodes[1]!, srcIp, true);

    await fs.writeFile(
      path.join(dir, 'compose.yaml'),
      [
        'services:',
        '  worker:',
        `    image: ${appImage}`,
        // $$: a literal $ for the container's shell (Compose interpolates $VAR from the deploying shell)
        `    command: ["sh", "-c", ${JSON.stringify(`${CHECK.replaceAll('$', '$$$$')} && exec sleep 3600`)}]`,
        '    deploy:',
        '      mode: global',
        '',
      ].join('\n'),
    );
    manifestPath = path.join(dir, 'models.yaml');
    await fs.writeFile(
      manifestPath,
      manifestYaml({
        artifacts,
        sources: [{ name: 'lan', url: `http://${srcIp}:8080/` }],
        hostDir: '/srv/models',
        cacheDir: '/var/cache/mmfleet-store',
        extra: ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: models.override.yaml', '  containerDir: /models', 'smoke:', `  command: ["sh", "-c", ${JSON.stringify(CHECK)}]`].join('\n'),
      }),
    );
  }, 600_000);

  afterAll(async () => {
    if (swarm?.nodes.length) await swarm.on(swarm.manager)`docker stack rm ${stack}`;
    await sh`docker rm -f ${srcName}`;
    await swarm?.destroy();
    await sh`docker rmi -f ${mmImage} ${appImage}`;
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 300_000);

  it('labels the node that verified the set and names the one whose source is unreachable', async () => {
    const { code, report, stderr } = await provision(['--json']);
    expect(report, stderr).toBeDefined();
    const [n1, n2] = swarm.nodes;
    const byName = new Map(report!.nodes.map((n) => [n.node, n]));
    expect(byName.get(n1!.name)).toMatchObject({ state: 'verified', label: 'added' });
    expect(byName.get(n1!.name)!.installed).toBe(2);
    expect(byName.get(n2!.name)).toMatchObject({ state: 'failed', label: 'absent', exitCode: 3 });
    expect(byName.get(n2!.name)!.error!.message).toContain('student/v0_ja');
    expect(report!.ok).toBe(false);
    expect(code).toBe(3);
    expect(await labelOf(n1!)).toBe(report!.set);
    expect(await labelOf(n2!)).toBe('');
  }, 600_000);

  it('a stack deployed with the Swarm override runs only on the labelled node, and loads its models there', async () => {
    const override = await cli(['override', '--output', 'models.swarm.yaml']);
    expect(override.code, override.stderr).toBe(0);
    const text = await fs.readFile(path.join(dir, 'models.swarm.yaml'), 'utf8');
    expect(text).toMatch(/node\.labels\.modelmount\.set==[0-9a-f]{64}/);
    const deploy = await swarm.on(swarm.manager)({ cwd: dir })`docker stack deploy --resolve-image never -c compose.yaml -c models.swarm.yaml ${stack}`;
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    expect(await workerNodes(1)).toEqual([swarm.nodes[0]!.name]);
    // the unlabelled node never got a task, not even a rejected one
    const all = await swarm.on(swarm.manager)`docker service ps --format ${'{{.Node}}'} ${`${stack}_worker`}`;
    expect(all.stdout.split('\n').filter(Boolean)).not.toContain(swarm.nodes[1]!.name);
    let logs = '';
    for (let i = 0; i < 60 && !logs.includes('loaded /models/student/v0_ja'); i++, await sleep(1000)) {
      logs = (await swarm.on(swarm.manager)`docker service logs --raw ${`${stack}_worker`}`).stdout;
    }
    expect(logs).toContain('loaded /models/student/v0_ja');

    // status --swarm: per node, the set it holds and whether the placed service runs there
    const st = await runCliCaptured(['status', '--swarm', '--json', '--manifest', manifestPath], { env: { DOCKER_HOST: swarm.manager.dockerHost }, cwd: dir });
    expect(st.code, st.stderr).toBe(0);
    const status = JSON.parse(st.stdout) as SwarmStatusReport;
    const [n1, n2] = status.nodes;
    expect(n1).toMatchObject({ node: swarm.nodes[0]!.name, holds: 'current', services: [{ service: `${stack}_worker`, running: 1, matches: true }] });
    expect(n2).toMatchObject({ node: swarm.nodes[1]!.name, holds: 'none', set: null, services: [{ service: `${stack}_worker`, running: 0, matches: false }] });
  }, 600_000);

  it('the next run provisions the repaired node and one that joined later; the first is a no-op; the worker follows the labels', async () => {
    await swarm.block(swarm.nodes[1]!, srcIp, false);
    await prepareNode();
    const text = await provision();
    expect(text.code, text.stdout + text.stderr).toBe(0);
    for (const n of swarm.nodes) expect(text.stdout).toMatch(new RegExp(`${n.name}\\s+\\w+\\s+verified`));
    expect(text.stdout).toMatch(new RegExp(`${swarm.nodes[0]!.name}.*kept\\s+already held the set`));
    expect(text.stdout).toContain('3 nodes labelled modelmount.set');
    const digest = await labelOf(swarm.nodes[0]!);
    for (const n of swarm.nodes) expect(await labelOf(n)).toBe(digest);
    expect(await workerNodes(3)).toEqual(swarm.nodes.map((n) => n.name).sort());
    const st = await cli(['status']);
    expect(st.code, st.stderr).toBe(0);
    for (const n of swarm.nodes) expect(st.stdout).toMatch(new RegExp(`${n.name}\\s+ready/active\\s+current\\s+${stack}_worker: 1 running$`, 'm'));
  }, 600_000);

  it('swarm smoke runs the app check on every labelled node and reports per node', async () => {
    const r = await cli(['smoke', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as SwarmSmokeReport;
    expect(report.nodes.map((n) => [n.node, n.state]).sort()).toEqual(swarm.nodes.map((n) => [n.name, 'passed']).sort());
    expect(report.nodes[0]!.output.join('\n')).toContain('loaded /models/student/v0_ja');
  }, 600_000);
}

describeFleet('modelmount swarm on a real 3-node swarm (Docker-in-Docker)', why, suite);
