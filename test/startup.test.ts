/**
 * Start-up cost: zx, got and @inquirer/prompts are imported only by runs that need them (Docker,
 * a download, a question). The real CLI (bin/modelmount.mjs, the bundle) runs with a resolve hook
 * that names every import of those packages.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestYaml, sampleArtifacts, serverFiles, tempProject } from './helpers/cli.ts';
import { BIN } from './helpers/real-cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HOOK = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'import-log.mjs')).href;
const BUILTINS_HOOK = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'builtins-log.mjs')).href;

function run(args: string[], hook = HOOK): Promise<{ code: number | null; stderr: string; imports: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', hook, BIN, ...args], {
      env: { ...process.env, CI: 'true' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, imports: [...stderr.matchAll(/^\[import\] (\S+)$/gm)].map((m) => m[1]!) }));
  });
}

const artifacts = sampleArtifacts();
let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer({ files: serverFiles(artifacts) });
});
afterAll(async () => {
  await server.close();
});

describe('start-up imports', () => {
  it('--version and --help import none of zx, got, @inquirer/prompts', async () => {
    for (const args of [['--version'], ['update', '--help']]) {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.imports).toEqual([]);
    }
  });

  it('--version loads none of the built-ins only services use (http, https, tls, child_process, worker_threads, crypto)', async () => {
    const r = await run(['--version'], BUILTINS_HOOK);
    expect(r.code, r.stderr).toBe(0);
    const loaded = r.stderr.match(/^\[builtins\] (.*)$/m)?.[1]?.split(' ') ?? [];
    expect(loaded).toContain('fs'); // the hook works
    expect(loaded.filter((n) => ['http', 'https', 'tls', 'child_process', 'worker_threads', 'crypto'].includes(n))).toEqual([]);
  });

  it('a download imports got (and only got); the no-op run after it imports none of them', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const first = await run(['update', '--manifest', p.manifest]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.imports).toEqual(['got']); // the hook works, and nothing else was needed
    const again = await run(['update', '--manifest', p.manifest]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.imports).toEqual([]);
  });
});
