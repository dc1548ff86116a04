/**
 * oci:// sources against a real registry (Debian's docker-registry, distribution 2.8, on
 * loopback), anonymous and behind a Docker-style auth front (Bearer token flow, Basic).
 * Artifacts are pushed here with plain fetch, independent of modelmount's own client.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { publishSet } from '../lib/author/publish.ts';
import { ExitCode, SourceError } from '../lib/errors.ts';
import { createSource } from '../lib/sources/resolve.ts';
import { blobPath, hostFilePath } from '../lib/layout.ts';
import { cliEnv, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, sha256, tempDir, tempProject, type TestArtifact } from './helpers/cli.ts';
import { runRealCli } from './helpers/real-cli.ts';
import { startFaultServer, startTestProxy } from './helpers/with-server.ts';
import { describeOci, pushArtifact, startAuthGateway, startRegistry, type AuthGateway, type Registry } from './helpers/registry.ts';

let reg: Registry;
let starting: Promise<Registry> | undefined;
/** one registry for both suites of this file */
async function ensureRegistry(): Promise<void> {
  starting ??= startRegistry();
  reg = await starting;
}
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  if (starting) await (await starting).stop();
});

/** One artifact holding the whole set: layers titled `<id>/<path>`. */
async function pushSet(registryUrl: string, repo: string, tag: string, artifacts: TestArtifact[]): Promise<string> {
  return pushArtifact(registryUrl, repo, tag, artifacts.flatMap((a) => a.files.map((f) => ({ title: `${a.id}/${f.path}`, data: f.data }))));
}

async function expectInstalled(hostDir: string, artifacts: TestArtifact[]): Promise<void> {
  for (const a of artifacts.filter((x) => !x.optional)) {
    for (const f of a.files) expect(sha256(await fs.readFile(hostFilePath(hostDir, a.id, f.path)))).toBe(sha256(f.data));
  }
}

async function dockerConfig(host: string, user: string, password: string): Promise<string> {
  const dir = await tempDir();
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }));
  return dir;
}

describeOci('oci sources (docker-registry on loopback)', () => {
  beforeAll(async () => {
    await ensureRegistry();
  }, 60_000);

  it('update installs a set published as one artifact (layers titled <id>/<path>), anonymous pull', async () => {
    const artifacts = sampleArtifacts();
    await pushSet(reg.url, 'team/models', 'set-v1', artifacts);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${reg.host}/team/models:set-v1` }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
  });

  it('the real CLI loads neither got nor the AWS SDK for an oci download', async () => {
    const artifacts = sampleArtifacts({ ja: 5000, en: 5000, teacher: 100 });
    await pushSet(reg.url, 'team/lazy', 'v1', artifacts);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${reg.host}/team/lazy:v1` }] }));
    const r = await runRealCli(['update', '--manifest', p.manifest], { PATH: process.env.PATH, HOME: await tempDir(), CI: 'true', TMPDIR: process.env.TMPDIR });
    expect(r.code, r.out).toBe(0);
    expect(r.imports).toEqual([]);
    await expectInstalled(p.hostDir, artifacts);
  });

  it('probe (bootstrap): an anonymous registry is reachable, a dead port is not', async () => {
    await createSource({ name: 'registry', kind: 'oci', base: `oci://${reg.host}/team/models:v1` }).probe!();
    const dead = await createSource({ name: 'registry', kind: 'oci', base: 'oci://127.0.0.1:9/team/models:v1' }, { retry: { limit: 0 } }).probe!().catch((e: unknown) => e);
    expect((dead as SourceError).code).toBe('ECONNREFUSED');
  });

  it("a tag the registry lacks, or a file the artifact lacks, is EMISSING (not Node's DNS code ENOTFOUND)", async () => {
    await pushArtifact(reg.url, 'team/one-file', 'v1', [{ title: 'a/x.bin', data: Buffer.from('x') }]);
    const open = (ref: string, file: string) =>
      createSource({ name: 'registry', kind: 'oci', base: `oci://${reg.host}/team/one-file:${ref}` }, { retry: { limit: 0 } })
        .open({ artifactId: 'a', path: file, offset: 0, expectedSize: 1 })
        .catch((e: unknown) => e);
    const noTag = await open('no-such-tag', 'x.bin');
    expect(noTag).toBeInstanceOf(SourceError);
    expect((noTag as SourceError).code).toBe('EMISSING');
    const noLayer = await open('v1', 'y.bin');
    expect((noLayer as SourceError).code).toBe('EMISSING');
    expect((noLayer as SourceError).message).toContain('no layer titled a/y.bin');
  });

  it('per-artifact ociRef (tag or digest) with ORAS-style layers titled by file name', async () => {
    const artifacts = sampleArtifacts({ ja: 30_000, en: 20_000, teacher: 1000 });
    const digests: Record<string, string> = {};
    for (const a of artifacts) {
      const tag = a.id.replace('/', '-');
      digests[a.id] = await pushArtifact(reg.url, 'team/per-artifact', tag, a.files.map((f) => ({ title: f.path, data: f.data })));
    }
    let yaml = manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${reg.host}/team/per-artifact` }] });
    yaml = yaml.replace('  - id: student/v0_ja\n', `  - id: student/v0_ja\n    ociRef: "${digests['student/v0_ja']}"\n`);
    yaml = yaml.replace('  - id: student/v0_en\n', '  - id: student/v0_en\n    ociRef: student-v0_en\n');
    yaml = yaml.replace('  - id: teacher/v0\n', '  - id: teacher/v0\n    ociRef: teacher-v0\n');
    const p = await tempProject(yaml);
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
  });

  it('a layer digest that differs from the manifest sha256 is an integrity error (exit 4) before any blob is fetched', async () => {
    const artifacts = sampleArtifacts({ ja: 5000, en: 5000, teacher: 1000 });
    const other = artifacts.map((a) => ({ ...a, files: a.files.map((f) => ({ ...f, data: randomBytes(f.data.length) })) }));
    await pushSet(reg.url, 'team/mismatch', 'v1', other);
    const gw = await startAuthGateway(reg.url, { mode: 'bearer', user: 'ci', password: 'pw-1234567' });
    closers.push(gw.close);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${gw.host}/team/mismatch:v1` }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest], { env: { DOCKER_CONFIG: await dockerConfig(gw.host, 'ci', 'pw-1234567') } });
    expect(r.code, r.stdout + r.stderr).toBe(ExitCode.integrity);
    expect(r.stdout + r.stderr).toMatch(/layer digest sha256:[0-9a-f]{64}/);
    expect(gw.seen.filter((s) => s.path.includes('/blobs/'))).toEqual([]);
  });

  it('Bearer token flow with the login from ~/.docker/config.json; a wrong password is EAUTH (exit 3), never printed', async () => {
    const artifacts = sampleArtifacts({ ja: 40_000, en: 10_000, teacher: 1000 });
    await pushSet(reg.url, 'team/private', 'v1', artifacts);
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const gw = await startAuthGateway(reg.url, { mode: 'bearer', user: 'ci', password });
    closers.push(gw.close);
    const yaml = manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${gw.host}/team/private:v1` }] });
    const p = await tempProject(yaml);
    const ok = await runCliCaptured(['update', '--manifest', p.manifest, '--json'], { env: { DOCKER_CONFIG: await dockerConfig(gw.host, 'ci', password) } });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
    expect(gw.tokensIssued).toBeGreaterThan(0);
    expect(gw.seen.filter((s) => s.path.includes('/blobs/')).every((s) => s.auth === 'Bearer')).toBe(true);

    const wrong = `pw-${randomBytes(12).toString('hex')}`;
    const p2 = await tempProject(yaml);
    for (const args of [[], ['--json']]) {
      const bad = await runCliCaptured(['update', '--manifest', p2.manifest, '--retries', '0', ...args], { env: { DOCKER_CONFIG: await dockerConfig(gw.host, 'ci', wrong) } });
      expect(bad.code).toBe(ExitCode.sources);
      const out = bad.stdout + bad.stderr;
      expect(out).toContain('EAUTH');
      expect(out).toContain(`docker login ${gw.host}`);
      expect(out).not.toContain(wrong);
      expect(out).not.toContain(Buffer.from(`ci:${wrong}`).toString('base64'));
    }
    const anonymous = await runCliCaptured(['update', '--manifest', p2.manifest, '--retries', '0'], { env: { DOCKER_CONFIG: await tempDir() } });
    expect(anonymous.code).toBe(ExitCode.sources);
    expect(anonymous.stdout + anonymous.stderr).toMatch(/anonymous access/);
  });

  it('a blob redirected to another origin (object storage) is fetched there without the Authorization header', async () => {
    const artifacts = sampleArtifacts({ ja: 5000, en: 5000, teacher: 1000 });
    await pushSet(reg.url, 'team/redirected', 'v1', artifacts);
    const storageSeen: (string | undefined)[] = [];
    const storage = http.createServer((req, res) => {
      storageSeen.push(req.headers.authorization);
      http.get(`${reg.url}${req.url}`, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => storage.close(() => r())));
    const storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;
    const gw = await startAuthGateway(reg.url, { mode: 'bearer', user: 'ci', password: 'pw-redirect', redirectBlobsTo: storageUrl });
    closers.push(gw.close);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${gw.host}/team/redirected:v1` }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest], { env: { DOCKER_CONFIG: await dockerConfig(gw.host, 'ci', 'pw-redirect') } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
    expect(storageSeen.length).toBeGreaterThan(0);
    expect(storageSeen.every((a) => a === undefined)).toBe(true);
  });

  it('an expired bearer token is replaced by a new one (token flow again), not reported as a failure', async () => {
    const artifacts = sampleArtifacts({ ja: 5000, en: 5000, teacher: 1000 });
    await pushSet(reg.url, 'team/expiring', 'v1', artifacts);
    const gw = await startAuthGateway(reg.url, { mode: 'bearer', user: 'ci', password: 'pw-expiring', tokenUses: 2 });
    closers.push(gw.close);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${gw.host}/team/expiring:v1` }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--jobs', '1'], { env: { DOCKER_CONFIG: await dockerConfig(gw.host, 'ci', 'pw-expiring') } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
    expect(gw.tokensIssued).toBeGreaterThan(1);
  });

  it('credentials from a credential helper (credHelpers, then credsStore), as docker does', async () => {
    const artifacts = sampleArtifacts({ ja: 5000, en: 5000, teacher: 1000 });
    await pushSet(reg.url, 'team/helper', 'v1', artifacts);
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const gw = await startAuthGateway(reg.url, { mode: 'bearer', user: 'helper-user', password });
    closers.push(gw.close);
    const bin = await tempDir();
    // docker's credential helper protocol: `get`, the registry on stdin, JSON on stdout
    await fs.writeFile(
      path.join(bin, 'docker-credential-fake'),
      `#!/bin/sh\n[ "$1" = get ] || exit 1\nread host\n[ "$host" = "${gw.host}" ] || exit 1\nprintf '{"ServerURL":"%s","Username":"helper-user","Secret":"${password}"}' "$host"\n`,
      { mode: 0o755 },
    );
    const yaml = manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${gw.host}/team/helper:v1` }] });
    for (const config of [{ credHelpers: { [gw.host]: 'fake' } }, { credsStore: 'fake' }]) {
      const dir = await tempDir();
      await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
      const p = await tempProject(yaml);
      const r = await runCliCaptured(['update', '--manifest', p.manifest], { env: { DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH}` } });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      await expectInstalled(p.hostDir, artifacts);
    }
  });

  it('Basic auth, and a transfer cut mid-blob resumes with a Range request', async () => {
    const artifacts = sampleArtifacts({ ja: 2_000_000, en: 1000, teacher: 1000 });
    await pushSet(reg.url, 'team/basic', 'v1', artifacts);
    const gw = await startAuthGateway(reg.url, { mode: 'basic', user: 'ci', password: 'basic-pw-99', cutBlobAfter: 700_000 });
    closers.push(gw.close);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${gw.host}/team/basic:v1` }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--jobs', '1'], { env: { DOCKER_CONFIG: await dockerConfig(gw.host, 'ci', 'basic-pw-99') } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
    const big = `sha256:${sha256(artifacts[0]!.files[0]!.data)}`;
    const gets = gw.seen.filter((s) => s.method === 'GET' && s.path.endsWith(big) && s.auth === 'Basic');
    expect(gets.map((g) => g.range)).toEqual([undefined, expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
  });

  it('a compressed (archive) layer is refused with the reason, not installed', async () => {
    const artifacts: TestArtifact[] = [{ id: 'kit/v1', files: [{ path: 'weights.bin', data: randomBytes(3000) }] }];
    await pushArtifact(reg.url, 'team/kit', 'v1', [{ title: 'kit/v1/weights.bin', data: artifacts[0]!.files[0]!.data, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${reg.host}/team/kit:v1` }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code).toBe(ExitCode.sources);
    expect(r.stdout + r.stderr).toMatch(/the layer is an archive \(application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\)/);
  });

  it('goes through HTTP_PROXY (with its credentials) to a registry NO_PROXY does not name; an unreachable proxy is EPROXY, no secret printed', async () => {
    const artifacts = sampleArtifacts({ ja: 20_000, en: 20_000, teacher: 1000 });
    await pushSet(reg.url, 'team/proxied', 'v1', artifacts);
    const proxy = await startTestProxy();
    closers.push(() => proxy.close());
    // a name only the proxy resolves (to the registry on loopback): the request cannot go direct
    const host = `registry.test:${reg.host.split(':')[1]}`;
    const url = `oci://${host}/team/proxied:v1`;
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url }] }).replace(`    url: "${url}"\n`, `    url: "${url}"\n    insecure: true\n`));
    const proxyUrl = proxy.url.replace('http://', 'http://bob:canary-proxy-pw@');
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json'], { env: { HTTP_PROXY: proxyUrl, NO_PROXY: 'example.org' } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
    expect(proxy.forwards).toContain(`http://${host}/v2/team/proxied/manifests/v1`);
    expect(proxy.forwards.some((f) => f.startsWith(`http://${host}/v2/team/proxied/blobs/sha256:`))).toBe(true);
    expect(proxy.proxyAuthorizations[0]).toBe(`Basic ${Buffer.from('bob:canary-proxy-pw').toString('base64')}`);
    expect(r.stdout + r.stderr).not.toContain('canary');

    await proxy.close();
    const down = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url }] }).replace(`    url: "${url}"\n`, `    url: "${url}"\n    insecure: true\n`));
    const r2 = await runCliCaptured(['update', '--manifest', down.manifest, '--json', '--retries', '0'], { env: { HTTP_PROXY: proxyUrl } });
    expect(r2.code).toBe(ExitCode.sources);
    expect(r2.stdout).toContain('EPROXY');
    expect(r2.stdout).toMatch(/cannot reach proxy http:\/\/127\.0\.0\.1:\d+\/: connection refused/);
    expect(r2.stdout + r2.stderr).not.toContain('canary');
  });

  it('a registry that is not loopback is reached over https unless the source says insecure: true', async () => {
    const artifacts = sampleArtifacts({ ja: 100, en: 100, teacher: 100 });
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: 'oci://registry.invalid/team/models:v1' }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--retries', '0', '--json']);
    expect(r.code).toBe(ExitCode.sources);
    expect(r.stdout).toContain('https://registry.invalid');
    const insecure = await tempProject(
      manifestYaml({ artifacts, sources: [{ name: 'registry', url: 'oci://registry.invalid/team/models:v1' }] }).replace(
        '    url: "oci://registry.invalid/team/models:v1"\n',
        '    url: "oci://registry.invalid/team/models:v1"\n    insecure: true\n',
      ),
    );
    const r2 = await runCliCaptured(['update', '--manifest', insecure.manifest, '--retries', '0', '--json']);
    expect(r2.code).toBe(ExitCode.sources);
    expect(r2.stdout).toContain('http://registry.invalid');
    expect(r2.stdout).not.toContain('https://registry.invalid');
  });
});

/** `oras` (trixie's package; .ci/install-oras puts it on PATH in CI), when this machine has it. */
function orasPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v oras'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

describeOci('publish (docker-registry on loopback)', () => {
  beforeAll(async () => {
    await ensureRegistry();
  }, 60_000);

  /** A project whose store holds the set (installed from a loopback http server). */
  async function installedProject(artifacts: TestArtifact[]) {
    const server = await startFaultServer({ files: serverFiles(artifacts) });
    closers.push(() => server.close());
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--include-optional']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return p;
  }

  it('publish pushes the selection, prints the digest-pinned source, and pulling it reproduces the bytes; a second publish uploads nothing', async () => {
    const artifacts = sampleArtifacts({ ja: 200_000, en: 100_000, teacher: 50_000 });
    const p = await installedProject(artifacts);
    const r = await runCliCaptured(['publish', `oci://${reg.host}/team/published:v1`, '--manifest', p.manifest, '--only', 'student/v0_ja,student/v0_en', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.layers.map((l: { title: string }) => l.title)).toEqual(['student/v0_ja/model.safetensors', 'student/v0_ja/config.json', 'student/v0_en/model.safetensors']);
    expect(doc.source.url).toBe(`oci://${reg.host}/team/published@${doc.digest}`);
    const manifest = (await (await fetch(`${reg.url}/v2/team/published/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as Record<string, any>;
    expect(manifest.artifactType).toBe('application/vnd.modelmount.set.v1+json');
    expect(manifest.config.mediaType).toBe('application/vnd.oci.empty.v1+json');

    const students = artifacts.filter((a) => a.id.startsWith('student/'));
    const pull = await tempProject(manifestYaml({ artifacts: students, sources: [{ name: 'registry', url: doc.source.url }] }));
    const r2 = await runCliCaptured(['update', '--manifest', pull.manifest]);
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    await expectInstalled(pull.hostDir, students);

    const again = await runCliCaptured(['publish', `oci://${reg.host}/team/published:v1`, '--manifest', p.manifest, '--only', 'student/v0_ja,student/v0_en', '--json']);
    expect(JSON.parse(again.stdout).bytesUploaded).toBe(0);
  });

  it('publishSet returns the digest the registry serves the tag under (the demo pins it without asking again)', async () => {
    const artifacts = sampleArtifacts({ ja: 20_000, en: 10_000, teacher: 1000 });
    const p = await installedProject(artifacts);
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: cliEnv(), cwd: p.dir, isTTY: false };
    const result = await publishSet({ manifest: p.manifest, args: [`oci://${reg.host}/team/returned:v1`] }, io, new AbortController().signal);
    const head = await fetch(`${reg.url}/v2/team/returned/manifests/v1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(result.digest).toBe(head.headers.get('docker-content-digest'));
    expect(result.pinned).toBe(`oci://${reg.host}/team/returned@${result.digest}`);
    expect(result.artifacts).toEqual(['student/v0_ja', 'student/v0_en']);
  });

  it('publish through the Bearer flow asks for push scope with the docker login; a damaged local copy publishes nothing (exit 4)', async () => {
    const artifacts = sampleArtifacts({ ja: 20_000, en: 10_000, teacher: 1000 });
    const p = await installedProject(artifacts);
    const gw = await startAuthGateway(reg.url, { mode: 'bearer', user: 'pub', password: 'pub-pw-123456' });
    closers.push(gw.close);
    const env = { DOCKER_CONFIG: await dockerConfig(gw.host, 'pub', 'pub-pw-123456') };
    const r = await runCliCaptured(['publish', `oci://${gw.host}/team/private-pub:v2`, '--manifest', p.manifest], { env });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`url: oci://${gw.host.replace(/\./g, '\\.')}/team/private-pub@sha256:[0-9a-f]{64}`));
    expect(gw.seen.some((s) => s.path.startsWith('/token') && decodeURIComponent(s.path).includes('repository:team/private-pub:pull,push'))).toBe(true);

    // damage the store's and the host folder's copies of one file: nothing may be pushed
    const en = artifacts[1]!.files[0]!;
    for (const f of [blobPath(p.cacheDir, sha256(en.data)), hostFilePath(p.hostDir, 'student/v0_en', 'model.safetensors')]) {
      await fs.chmod(f, 0o644);
      await fs.writeFile(f, randomBytes(en.data.length));
    }
    const before = gw.seen.length;
    const bad = await runCliCaptured(['publish', `oci://${gw.host}/team/private-pub:v3`, '--manifest', p.manifest], { env });
    expect(bad.code).toBe(ExitCode.integrity);
    expect(gw.seen.slice(before)).toEqual([]);
  });

  it('oras pulls what modelmount published byte-identical, and modelmount installs what oras pushed', async (ctx) => {
    const oras = orasPath();
    if (!oras) {
      ctx.skip(); // oras is not on PATH here (CI installs it with .ci/install-oras)
      return;
    }
    const artifacts = sampleArtifacts({ ja: 30_000, en: 20_000, teacher: 1000 });
    const p = await installedProject(artifacts);
    const r = await runCliCaptured(['publish', `oci://${reg.host}/team/cross:v1`, '--manifest', p.manifest, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = await tempDir();
    const pulled = spawnSync(oras, ['pull', '--plain-http', '-o', out, JSON.parse(r.stdout).pinned.replace('oci://', '')], { encoding: 'utf8' });
    expect(pulled.status, pulled.stderr).toBe(0);
    for (const a of artifacts.filter((x) => !x.optional)) for (const f of a.files) expect((await fs.readFile(path.join(out, a.id, f.path))).equals(f.data)).toBe(true);

    // the other way: oras push (files titled by name), modelmount pulls with ociRef
    const dir = await tempDir();
    const ja = artifacts[0]!;
    for (const f of ja.files) await fs.writeFile(path.join(dir, f.path), f.data);
    const pushed = spawnSync(oras, ['push', '--plain-http', '--artifact-type', 'application/vnd.example.model.v1', `${reg.host}/team/from-oras:ja`, ...ja.files.map((f) => f.path)], { cwd: dir, encoding: 'utf8' });
    expect(pushed.status, pushed.stderr).toBe(0);
    let yaml = manifestYaml({ artifacts: [ja], sources: [{ name: 'registry', url: `oci://${reg.host}/team/from-oras` }] });
    yaml = yaml.replace('  - id: student/v0_ja\n', '  - id: student/v0_ja\n    ociRef: ja\n');
    const q = await tempProject(yaml);
    const r2 = await runCliCaptured(['update', '--manifest', q.manifest]);
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    await expectInstalled(q.hostDir, [ja]);
  });
});
