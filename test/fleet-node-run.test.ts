/** `swarm node-run`, what each node's job (and the k8s init container) runs: update + verify + one result line. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, tempDir } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';
import { parseNodeResult } from '../lib/fleet/swarm/node-run.ts';
import { runNodeJob } from '../lib/commands/swarm-node-run.ts';
import { parseFlags, COMMON_FLAGS } from '../lib/cli/args.ts';
import { swarmCommand } from '../lib/commands/swarm-command.ts';
import { parseManifest } from '../lib/manifest/load.ts';
import { selectionDigest } from '../lib/manifest/digest.ts';
import { PassThrough } from 'node:stream';

const artifacts = sampleArtifacts({ ja: 20_000, en: 10_000, teacher: 5_000 });

describe('swarm node-run', () => {
  let server: FaultServer;
  let dir = '';
  let manifestPath = '';
  beforeAll(async () => {
    server = await startFaultServer({ files: serverFiles(artifacts) });
    dir = await tempDir('mmfleet-noderun-');
    manifestPath = path.join(dir, 'models.yaml');
    await fs.writeFile(manifestPath, manifestYaml({ artifacts, sources: [{ name: 'lan', url: server.url, tokenEnv: 'MODELS_TOKEN' }] }));
  });
  afterAll(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function run(args: string[], secretsDir: string) {
    const out: Buffer[] = [];
    const stdout = new PassThrough();
    stdout.on('data', (c: Buffer) => out.push(c));
    const flags = parseFlags(['node-run', '--manifest', manifestPath, ...args], [...COMMON_FLAGS, ...swarmCommand.flags], {}, 'swarm', 'own');
    const code = await runNodeJob(flags, { stdout, stderr: new PassThrough(), env: { PATH: process.env.PATH }, cwd: dir, isTTY: false }, new AbortController().signal, { secretsDir });
    return { code, lines: Buffer.concat(out).toString('utf8').split('\n').filter(Boolean) };
  }

  it('installs exactly the given ids with the token from the secrets folder, verifies, prints one result line with the set digest; a rerun installs nothing', async () => {
    const secrets = path.join(dir, 'secrets');
    await fs.mkdir(secrets);
    await fs.writeFile(path.join(secrets, 'MODELS_TOKEN'), 'node-token-7\n');
    const host = path.join(dir, 'node-host');
    const first = await run(['--host-dir', host, '--cache-dir', path.join(dir, 'node-store'), '--only', 'student/v0_ja'], secrets);
    expect(first.code).toBe(0);
    expect(first.lines).toHaveLength(1);
    const result = parseNodeResult(first.lines)!;
    const manifest = parseManifest(await fs.readFile(manifestPath, 'utf8'), manifestPath);
    expect(result).toMatchObject({ ok: true, artifacts: ['student/v0_ja'], installed: 2, set: selectionDigest(manifest.artifacts.filter((a) => a.id === 'student/v0_ja')) });
    expect(server.requestsTo('/student/v0_ja/model.safetensors')[0]!.headers.authorization).toBe('Bearer node-token-7');
    expect(server.requestsTo('/student/v0_en/model.safetensors')).toHaveLength(0);
    await expect(fs.readdir(path.join(host, 'student/v0_ja'))).resolves.toContain('model.safetensors');

    const again = await run(['--host-dir', host, '--cache-dir', path.join(dir, 'node-store'), '--only', 'student/v0_ja'], secrets);
    expect(parseNodeResult(again.lines)).toMatchObject({ ok: true, installed: 0, set: result.set });
  });

  it('reports the failure (code and message, no token) in the result line and exits with update\'s status', async () => {
    const secrets = path.join(dir, 'secrets-2');
    await fs.mkdir(secrets);
    await fs.writeFile(path.join(secrets, 'MODELS_TOKEN'), 'node-token-8');
    server.fault('/student/v0_en/model.safetensors', { status: 404 }, 10);
    const r = await run(['--host-dir', path.join(dir, 'host-2'), '--cache-dir', path.join(dir, 'store-2'), '--only', 'student/v0_en', '--retries', '0'], secrets);
    expect(r.code).toBe(3);
    const result = parseNodeResult(r.lines)!;
    expect(result.ok).toBe(false);
    expect(result.set).toBeUndefined();
    expect(result.error!.code).toBe('ESOURCES');
    expect(result.error!.message).toContain('student/v0_en/model.safetensors');
    expect(r.lines.join('\n')).not.toContain('node-token-8');
  });

  it('provision without a reachable manager: exit 7 and what to do, nothing else', async () => {
    const r = await runCliCaptured(['swarm', 'provision', '--manifest', manifestPath, '--json'], { cwd: dir, env: { DOCKER_HOST: `unix://${dir}/no-such.sock` } });
    expect(r.code).toBe(7);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'ESWARM_ENGINE', hint: expect.stringContaining('Swarm manager') });
  });

  it('the CLI refuses an unknown swarm subcommand with the list', async () => {
    const r = await runCliCaptured(['swarm', 'deploy', '--manifest', manifestPath], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('provision, override, smoke or status');
  });
});
