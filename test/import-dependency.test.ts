/**
 * A broken installation of modelmount: a runtime dependency it imports on first use (got, zx,
 * @inquirer/prompts, the AWS SDK) cannot be loaded. The real built CLI, copied without
 * node_modules (what an install that lost its dependencies looks like), fails at once with
 * EDEPENDENCY (exit 1) naming the package, Node's code and the reinstall to type, once, with no
 * stack trace: no request is sent and nothing is retried (a download used to retry every file
 * with back-off, minutes for 49 files).
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cliEnv, listFiles, manifestYaml, runCliCaptured, serverFiles, tempProject, writeSourceTree, type TestArtifact } from './helpers/cli.ts';
import { copyWithoutDependencies, runNode } from './helpers/real-cli.ts';
import { hasScript, onTerminal } from './helpers/terminal.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

/** `count` small files of artifact `id` */
function artifactOf(count: number, id: string, labels?: Record<string, string>): TestArtifact {
  return { id, ...(labels ? { labels } : {}), files: Array.from({ length: count }, (_, i) => ({ path: `part-${i}.bin`, data: Buffer.from(`${id} ${i}\n`) })) };
}
/** 49 files in two artifacts; two languages, so update on a terminal asks which */
const artifacts = [artifactOf(40, 'student/v0_ja', { lang: 'ja' }), artifactOf(9, 'student/v0_en', { lang: 'en' })];
const REINSTALL = /Reinstall modelmount: `npm install -D modelmount`.*`npm ci`/;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let bin: string;
let server: FaultServer;
beforeAll(async () => {
  bin = await copyWithoutDependencies();
}, 120_000);
beforeEach(async () => {
  server = await startFaultServer({ files: serverFiles(artifacts) });
});
afterEach(() => server.close());

const occurrences = (text: string, what: string) => text.split(what).length - 1;

describe('a dependency modelmount cannot load (the built CLI without node_modules)', () => {
  it('update over HTTP fails at once without a request: EDEPENDENCY naming got and ERR_MODULE_NOT_FOUND, exit 1, said once', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const r = await runNode([bin, 'update', '--manifest', p.manifest, '--yes'], { env: cliEnv(), cwd: p.dir });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/✖ modelmount cannot load got, one of its own dependencies: .*\(ERR_MODULE_NOT_FOUND: Cannot find package 'got'/);
    expect(r.stderr).toMatch(REINSTALL);
    expect(occurrences(r.stderr, 'cannot load got')).toBe(1);
    expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
    expect(r.stderr).not.toMatch(/ENETWORK|gave up after|Internal error/);
    expect(server.requests).toEqual([]);
    expect((await listFiles(p.hostDir)).filter((f) => !f.startsWith('.modelmount/'))).toEqual([]);
  });

  it('update --json and warm --json: stdout is the error document {ok: false, error: {code: EDEPENDENCY, message, hint, data}}', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    for (const command of [['update', '--yes'], ['warm']]) {
      const r = await runNode([bin, ...command, '--manifest', p.manifest, '--json'], { env: cliEnv(), cwd: p.dir });
      expect(r.code, `${command[0]}: ${r.stderr}`).toBe(1);
      expect(JSON.parse(r.stdout)).toEqual({
        ok: false,
        error: { code: 'EDEPENDENCY', message: expect.stringContaining('cannot load got'), hint: expect.stringMatching(REINSTALL), data: { package: 'got', cause: 'ERR_MODULE_NOT_FOUND' } },
      });
      expect(occurrences(r.stderr, 'cannot load got')).toBe(1);
    }
    expect(server.requests).toEqual([]);
  });

  it('a partial install (got there, a package it imports missing) names got and what is missing', async () => {
    const copy = path.dirname(path.dirname(await copyWithoutDependencies()));
    await fs.cp(path.join(ROOT, 'node_modules', 'got'), path.join(copy, 'node_modules', 'got'), { recursive: true, dereference: true });
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const r = await runNode([path.join(copy, 'bin', 'modelmount.mjs'), 'update', '--manifest', p.manifest, '--yes'], { env: cliEnv(), cwd: p.dir });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/cannot load got, one of its own dependencies: .*\(ERR_MODULE_NOT_FOUND: Cannot find package '[^']+' imported from [^)]*node_modules\/got\//);
    expect(server.requests).toEqual([]);
  });

  it('an s3 source: the AWS SDK fails to load before any connection is made', async () => {
    let connections = 0;
    const listener = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    try {
      const port = (listener.address() as net.AddressInfo).port;
      const yaml = manifestYaml({ artifacts, sources: [{ name: 'bucket', url: 's3://models/ml/' }] }).replace('    url: "s3://models/ml/"\n', `    url: "s3://models/ml/"\n    endpoint: http://127.0.0.1:${port}\n`);
      const p = await tempProject(yaml);
      const r = await runNode([bin, 'update', '--manifest', p.manifest, '--yes', '--json'], {
        env: cliEnv({ AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'not-a-real-secret' }),
        cwd: p.dir,
      });
      expect(r.code, r.stderr).toBe(1);
      expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'EDEPENDENCY', data: { package: '@aws-sdk/client-s3', cause: 'ERR_MODULE_NOT_FOUND' } });
      expect(occurrences(r.stderr, 'cannot load @aws-sdk/client-s3')).toBe(1);
      expect(r.stderr).not.toContain('not-a-real-secret');
      expect(connections).toBe(0);
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it('zx: compose and doctor (Compose) fail with EDEPENDENCY naming zx, not as a bug', async () => {
    const dir = (await tempProject('')).dir;
    const origin = path.join(dir, 'origin');
    const few = [artifactOf(2, 'student/v0_ja')];
    await writeSourceTree(origin, few);
    await fs.writeFile(path.join(dir, 'compose.yaml'), 'services:\n  ml-worker:\n    image: busybox\n');
    const manifest = path.join(dir, 'models.yaml');
    await fs.writeFile(
      manifest,
      manifestYaml({ artifacts: few, sources: [{ name: 'local', url: origin }], extra: 'compose:\n  files: [compose.yaml]\n  services: [ml-worker]\n  override: compose.models.yaml\n  containerDir: /app/models' }),
    );
    const update = await runCliCaptured(['update', '--manifest', manifest, '--yes', '--no-compose'], { cwd: dir });
    expect(update.code, update.stderr).toBe(0);
    for (const args of [['compose'], ['doctor']]) {
      const r = await runNode([bin, ...args, '--manifest', manifest, '--json'], { env: cliEnv(), cwd: dir });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1);
      expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'EDEPENDENCY', data: { package: 'zx', cause: 'ERR_MODULE_NOT_FOUND' } });
      expect(r.stderr).toMatch(/^✖ modelmount cannot load zx, one of its own dependencies/m);
      expect(r.stderr).toMatch(REINSTALL);
      expect(r.stderr).not.toMatch(/Internal error|bug in modelmount/);
    }
  });

  it.skipIf(!hasScript)('@inquirer/prompts: the first question on a terminal fails with EDEPENDENCY, before any download', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const s = onTerminal(['update', '--manifest', p.manifest], { bin, cwd: p.dir });
    expect(await s.exit, s.output()).toBe(1);
    expect(s.output()).toMatch(/modelmount cannot load @inquirer\/prompts, one of its own dependencies/);
    expect(s.output()).toMatch(REINSTALL);
    expect(server.requests).toEqual([]);
  });
});
