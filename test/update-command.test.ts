/**
 * `modelmount update` / `verify` end to end, in-process, against a real
 * loopback server and real temp folders.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { blobPath, hostFilePath, hostStatePath, storeStatePath } from '../lib/layout.ts';
import { statIdentity } from '../lib/verify/state-cache.ts';
import { listFiles, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, sha256, tempProject, writeSourceTree, tempDir, type TestArtifact } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';
import { waitFor } from './helpers/wait.ts';

const servers: FaultServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(opts: { tokenEnv?: string; require?: string[][] } = {}) {
  const artifacts = sampleArtifacts();
  const server = await startFaultServer({ files: serverFiles(artifacts) });
  servers.push(server);
  const yaml = manifestYaml({
    artifacts,
    sources: [{ name: 'mirror', url: server.url, tokenEnv: opts.tokenEnv }],
    require: opts.require ?? [['student/v0_ja', 'student/v0_en']],
  });
  const project = await tempProject(yaml);
  return { artifacts, server, ...project };
}

describe('update', () => {
  it('installs every non-optional artifact non-interactively, says what it chose, and a second run changes nothing', async () => {
    const p = await setup();
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.stderr).toContain('Selected student/v0_ja, student/v0_en (every non-optional artifact');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/OK: 3 files installed, 0 unchanged, 0 failed/);
    for (const a of p.artifacts.filter((x) => !x.optional)) {
      for (const f of a.files) {
        const file = hostFilePath(p.hostDir, a.id, f.path);
        expect(sha256(await fs.readFile(file))).toBe(sha256(f.data));
        expect((await fs.stat(file)).mode & 0o222).toBe(0); // read-only
      }
    }
    await expect(fs.access(path.join(p.hostDir, 'teacher'))).rejects.toThrow(); // optional: not installed
    const requests = p.server.requests.length;
    const again = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout);
    expect(report.totals).toMatchObject({ installed: 0, unchanged: 3, bytesTransferred: 0 });
    expect(p.server.requests.length).toBe(requests);
  });

  it('--json prints exactly one JSON document with artifacts, files, bytes, sources and status', async () => {
    const p = await setup();
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json', '--only', 'student/v0_ja']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout); // throws if anything else is on stdout
    expect(doc).toMatchObject({
      command: 'update',
      ok: true,
      dryRun: false,
      selection: ['student/v0_ja'],
      hostDir: p.hostDir,
      cacheDir: p.cacheDir,
      errors: [],
      totals: { files: 2, installed: 2, failed: 0 },
    });
    expect(doc.artifacts).toHaveLength(1);
    expect(doc.artifacts[0]).toMatchObject({ id: 'student/v0_ja', status: 'installed', sources: ['mirror'] });
    expect(doc.artifacts[0].files[0]).toMatchObject({ path: 'model.safetensors', status: 'ok', action: 'fetch', source: 'mirror', method: 'hardlink' });
    expect(doc.totals.bytesTransferred).toBe(p.artifacts[0]!.files.reduce((s, f) => s + f.data.length, 0));
  });

  it('--dry-run prints the plan and changes nothing', async () => {
    const p = await setup();
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Plan (dry run, nothing changed)');
    expect(r.stdout).toMatch(/fetch\s+student\/v0_ja\/model\.safetensors/);
    expect(p.server.requests).toHaveLength(0);
    await expect(fs.access(p.hostDir)).rejects.toThrow();
    expect(await listFiles(p.cacheDir)).toEqual([]);
    await expect(fs.access(p.cacheDir)).rejects.toThrow(); // not even the store folder
    const j = await runCliCaptured(['update', '--manifest', p.manifest, '--dry-run', '--json']);
    expect(JSON.parse(j.stdout).plan.counts).toEqual({ skip: 0, fetch: 3, copy: 0, relink: 0, repair: 0 });
  });

  it('sends the token, and never prints it or a presigned URL signature from a redirect', async () => {
    const token = 'canary-TOKEN-7f3a9c';
    const p = await setup({ tokenEnv: 'MODELS_TOKEN' });
    const ok = await runCliCaptured(['update', '--manifest', p.manifest, '--json'], { env: { MODELS_TOKEN: token } });
    expect(ok.code).toBe(0);
    expect(p.server.requests[0]!.headers.authorization).toBe(`Bearer ${token}`);
    // a mirror that redirects to presigned URLs, whose target then fails
    p.server.fault('/student/v0_en/model.safetensors', { redirect: '/signed/student/v0_en/model.safetensors?X-Amz-Signature=canary-SIG-51c2&X-Amz-Credential=AKIA' }, 100);
    p.server.fault('/signed/student/v0_en/model.safetensors', { status: 500 }, 100);
    await fs.rm(p.hostDir, { recursive: true });
    await fs.rm(p.cacheDir, { recursive: true });
    const bad = await runCliCaptured(['update', '--manifest', p.manifest, '--retries', '1'], { env: { MODELS_TOKEN: token } });
    expect(bad.code).toBe(ExitCode.sources);
    const badJson = await runCliCaptured(['update', '--manifest', p.manifest, '--json', '--retries', '0'], { env: { MODELS_TOKEN: token } });
    expect(JSON.parse(badJson.stdout).ok).toBe(false);
    for (const out of [ok.stdout, ok.stderr, bad.stdout, bad.stderr, badJson.stdout, badJson.stderr]) {
      expect(out).not.toContain(token);
      expect(out).not.toContain('canary-SIG');
    }
    expect(bad.stderr + bad.stdout).toContain('HTTP 500');
    for (const f of await listFiles(p.dir)) {
      const text = await fs.readFile(path.join(p.dir, f), 'latin1');
      expect(text, f).not.toContain(token);
      expect(text, f).not.toContain('canary-SIG');
    }
  });

  it('a missing token is named (the variable, not a value) and fails before downloading', async () => {
    const p = await setup({ tokenEnv: 'MODELS_TOKEN' });
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code).toBe(ExitCode.sources);
    expect(r.stderr + r.stdout).toContain('MODELS_TOKEN');
  });

  it('fails before any byte is fetched when the selection breaks a require rule (exit 2)', async () => {
    const p = await setup();
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--only', 'teacher/v0']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toMatch(/student\/v0_ja.*student\/v0_en/);
    expect(p.server.requests).toHaveLength(0);
  });

  it('stops on corrupted bytes with exit 4, naming the file, installing nothing of it', async () => {
    const p = await setup();
    p.server.fault('/student/v0_en/model.safetensors', { corrupt: [10] }, 100);
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(ExitCode.integrity);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.errors[0]).toMatchObject({ code: 'EINTEGRITY', file: 'student/v0_en/model.safetensors' });
    expect(doc.errors[0].message).toContain('expected');
    await expect(fs.access(hostFilePath(p.hostDir, 'student/v0_en', 'model.safetensors'))).rejects.toThrow();
  });

  it('falls back from a failing HTTP source to a file source', async () => {
    const artifacts = sampleArtifacts();
    const server = await startFaultServer({ files: {} });
    servers.push(server);
    const origin = await tempDir();
    await writeSourceTree(origin, artifacts);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }, { name: 'nfs', url: origin }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).artifacts.map((a: { sources: string[] }) => a.sources)).toEqual([['nfs'], ['nfs']]);
  });

  it('interrupted mid-download: nothing partial in the host folder, and the next run resumes instead of starting over', async () => {
    const artifacts = sampleArtifacts({ ja: 400_000, en: 1000, teacher: 1000 });
    const server = await startFaultServer({ files: serverFiles(artifacts) });
    servers.push(server);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    server.fault('/student/v0_ja/model.safetensors', { stallAfter: 200_000, stallMs: 120_000 }); // outlasts the wait below
    const controller = new AbortController();
    const run = runCliCaptured(['update', '--manifest', p.manifest, '--jobs', '1', '--only', 'student/v0_ja'], { signal: controller.signal });
    // wait until the stall: 200 000 bytes are in the partial file
    await waitFor(async () => {
      const partials = (await listFiles(path.join(p.cacheDir, 'tmp'))).filter((f) => f.endsWith('.partial'));
      return partials.length > 0 && (await fs.stat(path.join(p.cacheDir, 'tmp', partials[0]!))).size >= 200_000;
    }, 'the partial file to hold the 200 000 bytes sent before the stall', { everyMs: 25 });
    controller.abort(new DOMException('Interrupted', 'AbortError'));
    const r = await run;
    expect(r.code).toBe(130);
    expect((await listFiles(p.hostDir)).filter((f) => f.startsWith('student/v0_ja/model'))).toEqual([]);
    const again = await runCliCaptured(['update', '--manifest', p.manifest, '--json', '--only', 'student/v0_ja'], {});
    expect(again.code).toBe(0);
    const ranges = server.requestsTo('/student/v0_ja/model.safetensors').map((q) => q.headers.range);
    expect(ranges.at(-1)).toBe('bytes=200000-');
    expect(JSON.parse(again.stdout).totals.bytesResumed).toBe(200_000);
  });
});

describe('a store folder that is not what modelmount made', () => {
  for (const [what, sub] of [['sha256', 'sha256'], ['tmp', 'tmp']] as const) {
    it(`a file where <cache>/${what} should be: exit 5 naming it, no retry loop, nothing installed`, async () => {
      const p = await setup();
      await fs.mkdir(p.cacheDir, { recursive: true });
      await fs.writeFile(path.join(p.cacheDir, sub), 'not a folder');
      const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
      expect(r.code).toBe(ExitCode.disk);
      const doc = JSON.parse(r.stdout);
      const message = doc.error?.message ?? doc.errors[0].message;
      expect(message).toContain(path.join(p.cacheDir, sub === 'tmp' ? 'tmp' : ''));
      expect(r.stderr + r.stdout).not.toContain('Internal error');
      expect(await listFiles(p.hostDir)).toEqual([]);
    });
  }
});

describe('verify', () => {
  it('the verified-state cache notices a file modified in place (same size, mtime restored); update repairs it', async () => {
    const p = await setup();
    expect((await runCliCaptured(['update', '--manifest', p.manifest])).code).toBe(0);
    const ok = await runCliCaptured(['verify', '--manifest', p.manifest, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).files.every((f: { cached: boolean }) => f.cached)).toBe(true);

    const file = hostFilePath(p.hostDir, 'student/v0_ja', 'config.json');
    const st = await fs.stat(file);
    await fs.chmod(file, 0o644);
    const text = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, text.replace('ja', 'xx'));
    await fs.utimes(file, st.atime, st.mtime);

    const bad = await runCliCaptured(['verify', '--manifest', p.manifest]);
    expect(bad.code).toBe(ExitCode.integrity);
    expect(bad.stdout).toMatch(/✖ student\/v0_ja\/config\.json: sha256 [0-9a-f]{64}, expected/);
    const full = await runCliCaptured(['verify', '--manifest', p.manifest, '--full']);
    expect(full.code).toBe(ExitCode.integrity);

    const repair = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(repair.code).toBe(0);
    expect(repair.stderr).toContain('Repairing student/v0_ja/config.json: content differs from the manifest on the host.');
    expect(await fs.readFile(file, 'utf8')).toBe(text);
    expect((await runCliCaptured(['verify', '--manifest', p.manifest, '--full'])).code).toBe(0);
  });

  it('files that share bytes share one blob, and every verified-state entry stays current after the links (nothing is hashed again)', async () => {
    const shared = randomBytes(150_000);
    const artifacts: TestArtifact[] = [
      { id: 'student/v0_ja', files: [{ path: 'model.safetensors', data: shared }, { path: 'copy.safetensors', data: shared }] },
      { id: 'student/v0_en', files: [{ path: 'model.safetensors', data: shared }] },
    ];
    const server = await startFaultServer({ files: serverFiles(artifacts) });
    servers.push(server);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code, r.stderr).toBe(0);
    const files = artifacts.flatMap((a) => a.files.map((f) => ({ key: `${a.id}/${f.path}`, file: hostFilePath(p.hostDir, a.id, f.path) })));
    const inodes = new Set(await Promise.all(files.map(async (f) => (await fs.stat(f.file)).ino)));
    expect(inodes.size).toBe(1); // one blob, three names (and the store's)
    // Each link moved the inode's ctime; every entry must name the identity the files have now.
    const host = JSON.parse(await fs.readFile(hostStatePath(p.hostDir), 'utf8')).entries as Record<string, { id: string }>;
    const store = JSON.parse(await fs.readFile(storeStatePath(p.cacheDir), 'utf8')).entries as Record<string, { id: string }>;
    const now = statIdentity(await fs.lstat(files[0]!.file, { bigint: true }));
    expect(Object.values(host).map((e) => e.id)).toEqual(files.map(() => now));
    expect(store[sha256(shared)]?.id).toBe(now);
  });

  it('the same when the shared blob was in the store already (warm first): each link starts from the inode as it is then', async () => {
    const shared = randomBytes(150_000);
    const artifacts: TestArtifact[] = [
      { id: 'student/v0_ja', files: [{ path: 'model.safetensors', data: shared }, { path: 'copy.safetensors', data: shared }] },
      { id: 'student/v0_en', files: [{ path: 'model.safetensors', data: shared }, { path: 'copy.safetensors', data: shared }] },
    ];
    const server = await startFaultServer({ files: serverFiles(artifacts) });
    servers.push(server);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    expect((await runCliCaptured(['warm', '--manifest', p.manifest])).code).toBe(0);
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code, r.stderr).toBe(0);
    const files = artifacts.flatMap((a) => a.files.map((f) => hostFilePath(p.hostDir, a.id, f.path)));
    const host = JSON.parse(await fs.readFile(hostStatePath(p.hostDir), 'utf8')).entries as Record<string, { id: string }>;
    const store = JSON.parse(await fs.readFile(storeStatePath(p.cacheDir), 'utf8')).entries as Record<string, { id: string }>;
    const now = statIdentity(await fs.lstat(files[0]!, { bigint: true }));
    expect(Object.values(host).map((e) => e.id)).toEqual(files.map(() => now));
    expect(store[sha256(shared)]?.id).toBe(now);
  });

  it("replacing a file keeps the old version's blob verified in the store (its entry follows the unlink)", async () => {
    const v1 = randomBytes(90_000);
    const v2 = randomBytes(90_000);
    const art = (data: Buffer): TestArtifact[] => [{ id: 'student/v0_ja', files: [{ path: 'model.bin', data }] }];
    const server = await startFaultServer({ files: serverFiles(art(v1)) });
    servers.push(server);
    const p = await tempProject(manifestYaml({ artifacts: art(v1), sources: [{ name: 'mirror', url: server.url }] }));
    expect((await runCliCaptured(['update', '--manifest', p.manifest])).code).toBe(0);
    const oldBlob = blobPath(p.cacheDir, sha256(v1));
    const linked = (await fs.lstat(oldBlob, { bigint: true })).ctimeNs;
    await new Promise((resolve) => setTimeout(resolve, 20)); // past the filesystem's timestamp granularity
    server.setFile('/student/v0_ja/model.bin', v2);
    await fs.writeFile(p.manifest, manifestYaml({ artifacts: art(v2), sources: [{ name: 'mirror', url: server.url }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code, r.stderr).toBe(0);
    const st = await fs.lstat(oldBlob, { bigint: true });
    expect(st.nlink).toBe(1n);
    expect(st.ctimeNs).not.toBe(linked); // the host file's rename dropped a name of the old blob
    const store = JSON.parse(await fs.readFile(storeStatePath(p.cacheDir), 'utf8')).entries;
    expect(store[sha256(v1)].id).toBe(statIdentity(st));
  });

  it('checks only the artifacts --only / --labels name', async () => {
    const p = await setup();
    const byLabel = await runCliCaptured(['verify', '--manifest', p.manifest, '--labels', 'lang=en', '--json']);
    expect(JSON.parse(byLabel.stdout).files.map((f: { artifactId: string }) => f.artifactId)).toEqual(['student/v0_en']);
    const byId = await runCliCaptured(['verify', '--manifest', p.manifest, '--only', 'student/v0_ja', '--json']);
    expect(JSON.parse(byId.stdout).files.map((f: { artifactId: string }) => f.artifactId)).toEqual(['student/v0_ja', 'student/v0_ja']);
  });

  it('without flags, checks what the last update installed (not every default artifact)', async () => {
    const p = await setup();
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--labels', 'lang=ja'])).code).toBe(0);
    const r = await runCliCaptured(['verify', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).files.map((f: { artifactId: string }) => f.artifactId)).toEqual(['student/v0_ja', 'student/v0_ja']);
  });

  it('reports missing files', async () => {
    const p = await setup();
    const r = await runCliCaptured(['verify', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(ExitCode.integrity);
    expect(JSON.parse(r.stdout).files.map((f: { status: string }) => f.status)).toEqual(['missing', 'missing', 'missing']);
  });
});

describe('cli', () => {
  it('exits 2 with the manifest problems listed', async () => {
    const p = await tempProject('version: 1\nhostDir: h\nsources: []\nartifacts: []\nbogus: 1\n');
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toMatch(/manifest\.yaml:5/);
  });

  it('exits 2 on an unknown flag and suggests the right one', async () => {
    const r = await runCliCaptured(['update', '--dryrun']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('did you mean --dry-run?');
  });

  it('has --help on every command', async () => {
    for (const cmd of ['update', 'verify', 'demo']) {
      const r = await runCliCaptured([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: modelmount ${cmd}`);
    }
  });
});
