/**
 * oci:// sources against a real registry (Debian's docker-registry, distribution 2.8, on
 * loopback), anonymous and behind a Docker-style auth front (Bearer token flow, Basic).
 * Artifacts are pushed here with plain fetch, independent of modelmount's own client.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { hostFilePath } from '../lib/layout.ts';
import { manifestYaml, runCliCaptured, sampleArtifacts, sha256, tempDir, tempProject, type TestArtifact } from './helpers/cli.ts';
import { describeOci, pushArtifact, startAuthGateway, startRegistry, type AuthGateway, type Registry } from './helpers/registry.ts';

let reg: Registry;
const closers: (() => Promise<void>)[] = [];

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
    reg = await startRegistry();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
    await reg?.stop();
  });

  it('update installs a set published as one artifact (layers titled <id>/<path>), anonymous pull', async () => {
    const artifacts = sampleArtifacts();
    await pushSet(reg.url, 'team/models', 'set-v1', artifacts);
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: `oci://${reg.host}/team/models:set-v1` }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
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

  it('plain http to a registry that is not loopback needs insecure: true', async () => {
    const artifacts = sampleArtifacts({ ja: 100, en: 100, teacher: 100 });
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'registry', url: 'oci://registry.invalid/team/models:v1' }] }));
    // no insecure: https is used (and fails to resolve here); the message names the registry, never silently http
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--retries', '0', '--json']);
    expect(r.code).toBe(ExitCode.sources);
    expect(r.stdout).toContain('registry.invalid');
  });
});
