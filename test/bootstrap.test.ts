/** `bootstrap`: prerequisite checks, questions (through the prompt module), unattended runs, idempotence. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { checkNode } from '../lib/bootstrap/prereqs.ts';
import { listFiles, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, tempDir, tempProject, writeSourceTree } from './helpers/cli.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

vi.mock('../lib/ui/prompts.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../lib/ui/prompts.ts')>();
  return { ...real, askLabels: vi.fn(), askOptionalArtifacts: vi.fn(), askSourceOrCustom: vi.fn(), askHostDir: vi.fn(), askServices: vi.fn(), askRunSmoke: vi.fn() };
});
const mocked = vi.mocked(await import('../lib/ui/prompts.ts'));

let server: FaultServer;
const artifacts = sampleArtifacts();
beforeEach(async () => {
  vi.clearAllMocks();
  server = await startFaultServer({ files: serverFiles(artifacts) });
});
afterEach(() => server.close());

describe('bootstrap', () => {
  it('unattended with --yes: checks, installs, and a second run changes nothing', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const r = await runCliCaptured(['bootstrap', '--manifest', p.manifest, '--yes', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.checks.map((c: { id: string; verdict: string }) => `${c.id}:${c.verdict}`)).toEqual(
      expect.arrayContaining(['node:ok', 'host-dir:ok', 'cache-dir:ok', 'disk-space:ok', 'source:mirror:ok']),
    );
    expect(doc.update.totals.installed).toBe(3);
    expect(doc.next).toBe('modelmount verify');
    const before = server.requests.length;
    const again = await runCliCaptured(['bootstrap', '--manifest', p.manifest, '--yes', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).update.totals).toMatchObject({ installed: 0, unchanged: 3, bytesTransferred: 0 });
    expect(server.requests.length).toBe(before); // not even a probe: nothing to transfer
    expect(mocked.askSourceOrCustom).not.toHaveBeenCalled();
  });

  it('stops before any download when the token is missing, naming the variable (exit 3)', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url, tokenEnv: 'MODELS_TOKEN' }] }));
    const r = await runCliCaptured(['bootstrap', '--manifest', p.manifest, '--yes']);
    expect(r.code).toBe(ExitCode.sources);
    expect(r.stderr).toMatch(/✖ source mirror needs a token in MODELS_TOKEN, which is not set/);
    expect(r.stderr).toContain('export MODELS_TOKEN=');
    expect(server.requests).toHaveLength(0);
    await expect(fs.access(p.hostDir)).rejects.toThrow();
  });

  it('stops when the only source is unreachable (exit 3) and when the host folder cannot be created (exit 5)', async () => {
    await server.close();
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const down = await runCliCaptured(['bootstrap', '--manifest', p.manifest, '--yes', '--retries', '0']);
    expect(down.code).toBe(ExitCode.sources);
    expect(down.stderr).toMatch(/✖ source mirror .* is not reachable/);

    const blocker = path.join(p.dir, 'a-file');
    await fs.writeFile(blocker, 'x');
    const bad = await runCliCaptured(['bootstrap', '--manifest', p.manifest, '--yes', '--host-dir', path.join(blocker, 'models')]);
    expect(bad.code).toBe(ExitCode.disk);
    expect(bad.stderr).toContain(`${blocker} is not a folder`);
    server = await startFaultServer({ files: {} }); // for afterEach
  });

  it('asks for the source (or a custom folder), host folder and optional artifacts, and uses the answers', async () => {
    const origin = await tempDir();
    await writeSourceTree(origin, artifacts);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const chosenHost = path.join(p.dir, 'chosen-host');
    mocked.askSourceOrCustom.mockResolvedValue({ url: origin });
    mocked.askHostDir.mockResolvedValue(chosenHost);
    mocked.askLabels.mockResolvedValue(['en']);
    mocked.askOptionalArtifacts.mockResolvedValue(['teacher/v0']);
    const r = await runCliCaptured(['bootstrap', '--manifest', p.manifest], { isTTY: true, env: { CI: '' } });
    expect(r.code).toBe(0);
    expect(mocked.askSourceOrCustom).toHaveBeenCalledOnce();
    expect(mocked.askHostDir).toHaveBeenCalledWith(p.hostDir, expect.any(Function));
    expect(r.stderr).toContain(`Bootstrapping student/v0_en, teacher/v0 into ${chosenHost}`);
    expect(r.stderr).toMatch(/Installed student\/v0_en \(1 file, .* from custom\)/);
    expect(await listFiles(chosenHost)).toEqual(expect.arrayContaining(['student/v0_en/model.safetensors', 'teacher/v0/model.safetensors']));
    expect(server.requests).toHaveLength(0); // the custom folder came first
    await expect(fs.access(p.hostDir)).rejects.toThrow();
  });

  it('runs the prerequisite checks before any question: a blocking one stops it unasked (exit 5)', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const blocker = path.join(p.dir, 'a-file');
    await fs.writeFile(blocker, 'x');
    const r = await runCliCaptured(['bootstrap', '--manifest', p.manifest, '--cache-dir', path.join(blocker, 'store')], { isTTY: true, env: { CI: '' } });
    expect(r.code).toBe(ExitCode.disk);
    expect(r.stderr).toMatch(/✔ Node\.js/);
    expect(r.stderr).toContain(`${blocker} is not a folder`);
    expect(mocked.askSourceOrCustom).not.toHaveBeenCalled();
    expect(mocked.askHostDir).not.toHaveBeenCalled();
    expect(server.requests).toHaveLength(0);
  });

  it("an abort while its doctor step waits on a hung host folder ends the run at once (exit 130), not after the stall bound", async () => {
    const origin = await tempDir();
    const arts = sampleArtifacts({ ja: 1000, en: 1000, teacher: 1000 });
    arts[0]!.files.push({ path: 'tokenizer/vocab.txt', data: Buffer.from('a\nb\n') });
    await writeSourceTree(origin, arts);
    const compose = 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: compose.models.yaml\n  containerDir: /app/models';
    const p = await tempProject(manifestYaml({ artifacts: arts, sources: [{ name: 'local', url: origin }], extra: compose }));
    await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
    // only doctor's look for escaping symlinks reads the folders below a mounted folder (the artifact's release)
    const releases = path.join(p.hostDir, '.modelmount', 'releases', 'student', 'v0_ja');
    const hung = hangFs('readdir', (q) => q.startsWith(`${releases}/`) && q.endsWith('/tokenizer'));
    try {
      const ac = new AbortController();
      const run = runCliCaptured(['bootstrap', '--manifest', p.manifest, '--yes', '--no-smoke'], { cwd: p.dir, signal: ac.signal });
      await untilAsked(hung, run);
      ac.abort();
      const r = await run;
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toContain('Interrupted.');
      expect(r.stderr).not.toContain('stalled: no answer');
    } finally {
      await endHungLooks();
    }
  });

  it('checkNode names the fix for an old Node', () => {
    expect(checkNode('20.19.0').verdict).toBe('ok');
    expect(checkNode('22.1.0').verdict).toBe('ok');
    const old = checkNode('20.18.1');
    expect(old).toMatchObject({ verdict: 'error', exitCode: ExitCode.usage });
    expect(old.fix).toContain('20.19');
  });
});
