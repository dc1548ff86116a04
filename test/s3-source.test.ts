/**
 * s3:// sources against a real S3 server: Ceph radosgw on loopback (real SigV4: a wrong secret
 * really fails). Skipped with a message where radosgw is not installed; required in CI.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ExitCode, SourceError } from '../lib/errors.ts';
import { hostFilePath } from '../lib/layout.ts';
import { createSource } from '../lib/sources/resolve.ts';
import { createS3Source } from '../lib/sources/s3/s3-source.ts';
import { fetchBlob } from '../lib/store/fetch-blob.ts';
import { manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, sha256, tempDir, tempProject, type TestArtifact } from './helpers/cli.ts';
import { describeS3, startRadosgw, type Radosgw } from './helpers/radosgw.ts';
import { runRealCli } from './helpers/real-cli.ts';
import { startFaultServer, startTestProxy, type FaultServer } from './helpers/with-server.ts';

// the SDK's once-per-process notice that its 2027 releases need Node 22 (modelmount silences it the same way)
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const BUCKET = 'models';

let rgw: Radosgw;
let admin: S3Client;
const closers: (() => Promise<void>)[] = [];

function env(over: Partial<Record<string, string>> = {}): NodeJS.ProcessEnv {
  return { AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey, ...over };
}

async function upload(prefix: string, artifacts: TestArtifact[]): Promise<void> {
  for (const a of artifacts) {
    for (const f of a.files) await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}${a.id}/${f.path}`, Body: f.data }));
  }
}

/** A manifest whose first source is s3://models/<prefix> at `endpoint` (radosgw, or a proxy in front of it). */
function s3Manifest(artifacts: TestArtifact[], prefix: string, opts: { endpoint?: string; more?: { name: string; url: string }[] } = {}): string {
  const yaml = manifestYaml({ artifacts, sources: [{ name: 'bucket', url: `s3://${BUCKET}/${prefix}` }, ...(opts.more ?? [])] });
  return yaml.replace(`    url: "s3://${BUCKET}/${prefix}"\n`, `    url: "s3://${BUCKET}/${prefix}"\n    endpoint: ${opts.endpoint ?? rgw.endpoint}\n`);
}

async function expectInstalled(hostDir: string, artifacts: TestArtifact[]): Promise<void> {
  for (const a of artifacts.filter((x) => !x.optional)) {
    for (const f of a.files) expect(sha256(await fs.readFile(hostFilePath(hostDir, a.id, f.path)))).toBe(sha256(f.data));
  }
}

/**
 * A TCP relay in front of radosgw (SigV4 signs the Host header, which passes through unchanged).
 * The first response for `cutKey` is cut (or, with 'stall', goes silent) after `cutAfter` bytes;
 * every request head is recorded.
 */
async function startCuttingRelay(
  target: string,
  cutKey: string,
  cutAfter: number,
  mode: 'cut' | 'stall' = 'cut',
): Promise<{ endpoint: string; heads: string[]; close(): Promise<void> }> {
  const up = new URL(target);
  const heads: string[] = [];
  let cut = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const upstream = net.connect(Number(up.port), up.hostname);
    sockets.add(upstream);
    let cutThis = false;
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (/^(GET|HEAD|PUT|POST) /.test(text)) {
        heads.push(text.slice(0, text.indexOf('\r\n\r\n')));
        if (!cut && text.startsWith('GET ') && text.includes(cutKey)) {
          cut = cutThis = true;
          sent = 0; // count this response only (the connection may have carried others before)
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutThis && sent >= cutAfter) return;
      if (cutThis && sent + chunk.length >= cutAfter) {
        client.write(chunk.subarray(0, cutAfter - sent));
        sent = cutAfter;
        if (mode === 'stall') return; // the connection stays open, silent
        // the client has consumed what it got by then: the cut lands mid-transfer
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, 300);
        return;
      }
      sent += chunk.length;
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    heads,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describeS3('s3 sources (Ceph radosgw on loopback)', () => {
  beforeAll(async () => {
    rgw = await startRadosgw();
    admin = new S3Client({
      region: 'us-east-1',
      endpoint: rgw.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }, 240_000);
  afterAll(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
    admin?.destroy();
    await rgw?.stop();
  });

  it('update installs the student set from s3://bucket/prefix/ with a custom endpoint; a second run fetches nothing', async () => {
    const artifacts = sampleArtifacts();
    await upload('ml/', artifacts);
    const p = await tempProject(s3Manifest(artifacts, 'ml/'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json'], { env: env() });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
    const doc = JSON.parse(r.stdout);
    expect(doc.totals.bytesTransferred).toBeGreaterThan(0);
    const again = await runCliCaptured(['update', '--manifest', p.manifest, '--json'], { env: env() });
    expect(JSON.parse(again.stdout).totals).toMatchObject({ installed: 0, bytesTransferred: 0 });
  });

  it('resumes a cut transfer with a ranged GET guarded by If-Match on the ETag', async () => {
    const artifacts = sampleArtifacts({ ja: 3_000_000, en: 10_000, teacher: 10_000 });
    await upload('resume/', artifacts);
    const relay = await startCuttingRelay(rgw.endpoint, 'student/v0_ja/model.safetensors', 1_000_000);
    closers.push(relay.close);
    const p = await tempProject(s3Manifest(artifacts, 'resume/', { endpoint: relay.endpoint }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json', '--jobs', '1'], { env: env() });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
    const gets = relay.heads.filter((h) => h.includes('student/v0_ja/model.safetensors'));
    expect(gets.length).toBe(2);
    const second = gets[1]!.toLowerCase();
    expect(second).toMatch(/\r\nrange: bytes=[1-9]\d*-\r\n/); // resumed, not restarted
    expect(second).toMatch(/\r\nif-match: "?[0-9a-f]{32}"?\r\n/);
  });

  it('a transfer that stalls mid-body is abandoned by the idle rule and resumed with a ranged GET', async () => {
    const data = randomBytes(2_000_000);
    await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'stall/a/f.bin', Body: data }));
    const relay = await startCuttingRelay(rgw.endpoint, 'stall/a/f.bin', 500_000, 'stall');
    closers.push(relay.close);
    const src = createS3Source(
      { name: 'bucket', kind: 's3', base: `s3://${BUCKET}/stall/`, endpoint: relay.endpoint },
      { env: env(), timeouts: { idleMs: 1000, stallWindowMs: 1000, stallBytesPerSec: 1024 } },
    );
    const r = await fetchBlob({
      cacheDir: await tempDir(),
      artifactId: 'a',
      file: { path: 'f.bin', size: data.length, sha256: sha256(data) },
      sources: [src],
      reopenDelayMs: 10,
    });
    expect(sha256(await fs.readFile(r.blob))).toBe(sha256(data));
    const gets = relay.heads.filter((h) => h.startsWith('GET ') && h.includes('stall/a/f.bin'));
    expect(gets).toHaveLength(2);
    expect(gets[1]!.toLowerCase()).toMatch(/\r\nrange: bytes=[1-9]\d*-\r\n/);
  });

  it('an object that changed since the partial was written comes back whole (If-Match fails, 412)', async () => {
    const data = randomBytes(50_000);
    await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'direct/a/f.bin', Body: data }));
    const src = createS3Source({ name: 'bucket', kind: 's3', base: `s3://${BUCKET}/direct/`, endpoint: rgw.endpoint }, { env: env() });
    const fresh = await src.open({ artifactId: 'a', path: 'f.bin', offset: 0, expectedSize: data.length });
    fresh.stream.destroy();
    expect(fresh.validator).toMatch(/^"[0-9a-f]{32}"$/);
    const resumed = await src.open({ artifactId: 'a', path: 'f.bin', offset: 1000, expectedSize: data.length, validator: fresh.validator! });
    expect(resumed.start).toBe(1000);
    resumed.stream.destroy();
    const changed = await src.open({ artifactId: 'a', path: 'f.bin', offset: 1000, expectedSize: data.length, validator: '"0123456789abcdef0123456789abcdef"' });
    expect(changed.start).toBe(0);
    const chunks: Buffer[] = [];
    for await (const c of changed.stream) chunks.push(c as Buffer);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
  });

  it('probe (bootstrap): resolves with good credentials, rejects a wrong secret and a dead endpoint', async () => {
    const base = { name: 'bucket', kind: 's3' as const, base: `s3://${BUCKET}/direct/` };
    await createSource({ ...base, endpoint: rgw.endpoint }, { env: env() }).probe!();
    const wrong = await createSource({ ...base, endpoint: rgw.endpoint }, { env: env({ AWS_SECRET_ACCESS_KEY: 'not-the-secret' }) }).probe!().catch((e: unknown) => e);
    expect((wrong as SourceError).data?.s3Code).toBe('SignatureDoesNotMatch');
    const dead = await createSource({ ...base, endpoint: 'http://127.0.0.1:9' }, { env: env(), retry: { limit: 0 } }).probe!().catch((e: unknown) => e);
    expect((dead as SourceError).code).toBe('ECONNREFUSED');
  });

  it('a missing object is EMISSING (not Node\'s DNS code ENOTFOUND) naming bucket, key and NoSuchKey', async () => {
    const src = createS3Source({ name: 'bucket', kind: 's3', base: `s3://${BUCKET}/direct/`, endpoint: rgw.endpoint }, { env: env() });
    const err = await src.open({ artifactId: 'a', path: 'missing.bin', offset: 0, expectedSize: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as SourceError).code).toBe('EMISSING');
    expect((err as SourceError).retryable).toBe(false);
    expect((err as SourceError).message).toContain(`s3://${BUCKET}/direct/a/missing.bin`);
    expect((err as SourceError).message).toContain('NoSuchKey');
    expect((err as SourceError).data).toMatchObject({ bucket: BUCKET, key: 'direct/a/missing.bin', s3Code: 'NoSuchKey' });
  });

  it('falls back from s3 to the next source (http) when the bucket lacks the objects', async () => {
    const artifacts = sampleArtifacts({ ja: 20_000, en: 20_000, teacher: 1000 });
    const server: FaultServer = await startFaultServer({ files: serverFiles(artifacts) });
    closers.push(() => server.close());
    const p = await tempProject(s3Manifest(artifacts, 'empty-prefix/', { more: [{ name: 'mirror', url: server.url }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json'], { env: env() });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
    expect(server.requests.length).toBeGreaterThan(0);
  });

  it('a wrong secret fails with exit 3, SignatureDoesNotMatch, bucket and key, and the fix; no credential in any output', async () => {
    const artifacts = sampleArtifacts({ ja: 1000, en: 1000, teacher: 1000 });
    await upload('creds/', artifacts);
    const p = await tempProject(s3Manifest(artifacts, 'creds/'));
    const wrongSecret = `wrong${randomBytes(16).toString('hex')}`;
    const bad = env({ AWS_SECRET_ACCESS_KEY: wrongSecret, AWS_SESSION_TOKEN: `tok${randomBytes(12).toString('hex')}` });
    for (const args of [[], ['--json']]) {
      const r = await runCliCaptured(['update', '--manifest', p.manifest, '--retries', '0', ...args], { env: bad });
      expect(r.code).toBe(ExitCode.sources);
      const out = r.stdout + r.stderr;
      expect(out).toContain('SignatureDoesNotMatch');
      expect(out).toContain(`s3://${BUCKET}/creds/student/v0_ja/model.safetensors`);
      expect(out).toMatch(/AWS_SECRET_ACCESS_KEY/); // the fix names where the secret comes from
      for (const secret of [wrongSecret, bad.AWS_SESSION_TOKEN!, rgw.accessKeyId, rgw.secretAccessKey]) expect(out).not.toContain(secret);
    }
    const unknownKey = await runCliCaptured(['update', '--manifest', p.manifest, '--retries', '0'], { env: env({ AWS_ACCESS_KEY_ID: 'AKUNKNOWN0000000' }) });
    expect(unknownKey.code).toBe(ExitCode.sources);
    expect(unknownKey.stdout + unknownKey.stderr).toContain('InvalidAccessKeyId');
    expect(unknownKey.stdout + unknownKey.stderr).not.toContain('AKUNKNOWN0000000');
    // nothing written in the store or the host folder holds a credential either
    const files = await fs.readdir(p.dir, { recursive: true });
    for (const f of files) {
      const st = await fs.stat(path.join(p.dir, f));
      if (!st.isFile()) continue;
      const text = await fs.readFile(path.join(p.dir, f), 'latin1');
      expect(text).not.toContain(wrongSecret);
      expect(text).not.toContain(rgw.accessKeyId);
    }
  });

  it('an object stored with Content-Encoding: gzip is installed as stored, never decoded', async () => {
    const plain = Buffer.from('{"vocab": ["a", "b", "c"]}\n'.repeat(2000));
    const gz = gzipSync(plain);
    const artifacts: TestArtifact[] = [{ id: 'tok/v1', files: [{ path: 'vocab.json.gz', data: gz }] }];
    await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'gz/tok/v1/vocab.json.gz', Body: gz, ContentEncoding: 'gzip', ContentType: 'application/json' }));
    const p = await tempProject(s3Manifest(artifacts, 'gz/'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest], { env: env() });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const installed = await fs.readFile(hostFilePath(p.hostDir, 'tok/v1', 'vocab.json.gz'));
    expect(installed.equals(gz)).toBe(true);
  });

  it('manifest add s3://bucket/prefix/ writes the artifact entry from the objects (hashed while streamed, nothing stored)', async () => {
    const files = [
      { key: 'model.safetensors', data: randomBytes(120_000) },
      { key: 'tokenizer/vocab.json', data: Buffer.from('{"a":1}\n') },
    ];
    for (const f of files) await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: `author/student_ja/${f.key}`, Body: f.data }));
    const artifacts = sampleArtifacts({ ja: 100, en: 100, teacher: 100 });
    const p = await tempProject(s3Manifest(artifacts, 'ml/'));
    const r = await runCliCaptured(
      ['manifest', 'add', `s3://${BUCKET}/author/student_ja/`, '--id', 'student/v1_ja', '--endpoint', rgw.endpoint, '--manifest', p.manifest, '--json'],
      { env: env() },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.files).toEqual(
      files.map((f) => ({ path: f.key, size: f.data.length, sha256: sha256(f.data) })).sort((a, b) => (a.path < b.path ? -1 : 1)),
    );
    const text = await fs.readFile(p.manifest, 'utf8');
    expect(text).toContain('id: student/v1_ja');
    expect(text).toContain(sha256(files[0]!.data));
    for (const secret of [rgw.secretAccessKey, rgw.accessKeyId]) expect(r.stdout + r.stderr + text).not.toContain(secret);
    const none = await runCliCaptured(['manifest', 'add', `s3://${BUCKET}/author/nothing-here/`, '--id', 'x/y', '--endpoint', rgw.endpoint, '--manifest', p.manifest], { env: env() });
    expect(none.code).toBe(ExitCode.usage);
    expect(none.stderr).toContain('No objects under s3://models/author/nothing-here/');
  });

  it('goes through HTTP_PROXY (with its credentials) to an endpoint NO_PROXY does not name; an unreachable proxy is EPROXY, no secret printed', async () => {
    const artifacts = sampleArtifacts({ ja: 20_000, en: 20_000, teacher: 1000 });
    await upload('proxied/', artifacts);
    const proxy = await startTestProxy();
    closers.push(() => proxy.close());
    // a name only the proxy resolves (to radosgw on loopback): the request cannot go direct
    const endpoint = `http://rgw.test:${new URL(rgw.endpoint).port}`;
    const manifest = s3Manifest(artifacts, 'proxied/', { endpoint }).replace(`endpoint: ${endpoint}\n`, `endpoint: ${endpoint}\n    insecure: true\n`);
    const p = await tempProject(manifest);
    const proxyUrl = proxy.url.replace('http://', 'http://bob:canary-proxy-pw@');
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json'], { env: env({ HTTP_PROXY: proxyUrl, NO_PROXY: 'example.org' }) });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    await expectInstalled(p.hostDir, artifacts);
    expect(proxy.forwards.some((f) => f.startsWith(`${endpoint}/${BUCKET}/proxied/student/v0_ja/`))).toBe(true);
    expect(proxy.proxyAuthorizations[0]).toBe(`Basic ${Buffer.from('bob:canary-proxy-pw').toString('base64')}`);
    expect(r.stdout + r.stderr).not.toContain('canary');

    await proxy.close();
    const down = await tempProject(manifest);
    const r2 = await runCliCaptured(['update', '--manifest', down.manifest, '--json', '--retries', '0'], { env: env({ HTTP_PROXY: proxyUrl }) });
    expect(r2.code).toBe(ExitCode.sources);
    expect(r2.stdout).toContain('EPROXY');
    expect(r2.stdout).toMatch(/cannot reach proxy http:\/\/127\.0\.0\.1:\d+\/: connection refused/);
    expect(r2.stdout + r2.stderr).not.toContain('canary');
    expect(r2.stdout + r2.stderr).not.toContain(rgw.secretAccessKey);
  });

  it('the real CLI loads the AWS SDK for an s3 download only, and nothing on the no-op run after it', async () => {
    const artifacts = sampleArtifacts({ ja: 5000, en: 5000, teacher: 100 });
    await upload('lazy/', artifacts);
    const p = await tempProject(s3Manifest(artifacts, 'lazy/'));
    const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: await tempDir(), CI: 'true', TMPDIR: process.env.TMPDIR, ...env() };
    const first = await runRealCli(['update', '--manifest', p.manifest], childEnv);
    expect(first.code, first.out).toBe(0);
    expect(first.imports).toEqual(['@aws-sdk/client-s3']);
    const again = await runRealCli(['update', '--manifest', p.manifest], childEnv);
    expect(again.code, again.out).toBe(0);
    expect(again.imports).toEqual([]);
  });

  it('no credentials anywhere: ENOCREDS with the ways to give them (real CLI, empty HOME, no metadata service)', async () => {
    const artifacts = sampleArtifacts({ ja: 100, en: 100, teacher: 100 });
    const p = await tempProject(s3Manifest(artifacts, 'creds/'));
    const home = await tempDir();
    const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, CI: 'true', AWS_EC2_METADATA_DISABLED: 'true', TMPDIR: process.env.TMPDIR };
    const r = await runRealCli(['update', '--manifest', p.manifest, '--retries', '0'], childEnv);
    expect(r.code, r.out).toBe(ExitCode.sources);
    expect(r.out).toContain('no AWS credentials found');
    expect(r.out).toContain('ENOCREDS');
    expect(r.out).not.toMatch(/NodeVersionSupportWarning|at .*node_modules/); // no SDK warning or stack trace
  });
});
