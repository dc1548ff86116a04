/**
 * Server faults, end to end: the real `update` (in-process, captured output) or the real
 * fetchBlob + materialiseFile path against the loopback fault server. Whatever the server
 * does, the run ends in a verified install or a clear error with the right exit status —
 * never a wrong file in the host folder or the store — and leaves no temp file behind
 * (only a resumable `.partial` in the store after a transport failure). An artifact is
 * installed whole or not at all: when its model fails, its config.json is not installed either.
 */
import fs from 'node:fs/promises';
import type { LookupFunction } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { AllSourcesFailedError, ExitCode, type ModelmountError } from '../lib/errors.ts';
import { hostFilePath } from '../lib/layout.ts';
import type { FileEntry } from '../lib/manifest/schema.ts';
import type { HttpSourceOptions } from '../lib/sources/http/options.ts';
import { createHttpSource } from '../lib/sources/http/source.ts';
import { materialiseFile } from '../lib/store/materialise.ts';
import { ensureRealDir } from '../lib/fs-safe.ts';
import { fetchBlob } from '../lib/store/fetch-blob.ts';
import { manifestYaml, runCliCaptured, tempProject, type TestArtifact } from './helpers/cli.ts';
import { expectCleanState, sha256, type ExpectedFile } from './helpers/fault-state.ts';
import { startFaultServer, TEST_TLS, type FaultServer } from './helpers/with-server.ts';
import { recordingClock } from './helpers/clock.ts';
import type { Clock } from '../lib/clock.ts';

const servers: FaultServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function bytes(n: number, seed: number): Buffer {
  // deterministic, incompressible enough, distinct per seed
  const b = Buffer.alloc(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const ID = 'student/v0_ja';
const MODEL = { id: ID, path: 'model.safetensors', data: bytes(300_000, 1) };
const CONFIG = { id: ID, path: 'config.json', data: Buffer.from('{"lang":"ja"}\n') };
const FILES: ExpectedFile[] = [MODEL, CONFIG];
const MODEL_URL = `/${ID}/${MODEL.path}`;

async function server(files: ExpectedFile[] = FILES, options: { tls?: boolean } = {}): Promise<FaultServer> {
  const s = await startFaultServer({ files: Object.fromEntries(files.map((f) => [`/${f.id}/${f.path}`, f.data])), ...options });
  servers.push(s);
  return s;
}

function artifactsOf(files: ExpectedFile[]): TestArtifact[] {
  return [{ id: ID, files: files.map((f) => ({ path: f.path, data: f.data })) }];
}

async function project(url: string, files: ExpectedFile[] = FILES, opts: { tokenEnv?: string } = {}) {
  return tempProject(manifestYaml({ artifacts: artifactsOf(files), sources: [{ name: 'mirror', url, ...opts }] }));
}

interface Run {
  code: number;
  report: { ok: boolean; errors?: { code: string; message: string }[]; error?: { code: string; message: string } };
  stdout: string;
  stderr: string;
}

async function update(manifest: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}, clock?: Clock): Promise<Run> {
  const r = await runCliCaptured(['update', '--manifest', manifest, '--json', '--jobs', '2', ...extra], { env, ...(clock ? { clock } : {}) });
  return { ...r, report: JSON.parse(r.stdout) };
}

/** the error codes named anywhere in a failed run's JSON */
function codes(run: Run): string {
  return JSON.stringify(run.report.errors ?? run.report.error ?? {});
}

describe('transport faults mid-body are resumed, never installed half', () => {
  for (const cutMode of ['fin', 'rst'] as const) {
    it(`cut after part of the body (${cutMode}): resumes with Range and installs the verified file`, async () => {
      const s = await server();
      s.fault(MODEL_URL, { cutAfter: 123_456, cutMode });
      const p = await project(s.url);
      const run = await update(p.manifest);
      expect(run.code).toBe(0);
      await expectCleanState(p, FILES, { installed: true });
      const ranges = s.requestsTo(MODEL_URL).map((q) => q.headers.range);
      expect(ranges).toHaveLength(2);
      expect(ranges[1]).toMatch(/^bytes=\d+-$/);
      expect(Number(/(\d+)/.exec(ranges[1]!)![1])).toBeGreaterThan(0);
    });
  }

  it('fewer bytes than Content-Length, every time: gives up with exit 3, keeps only a true-prefix partial', async () => {
    const s = await server();
    s.fault(MODEL_URL, { cutAfter: 50_000, cutMode: 'fin' }, 1); // first response: 50 000 bytes
    // then the server keeps dying before any byte: no progress, so the reopen budget runs out
    s.fault(MODEL_URL, { resetBeforeHeaders: true }, 100);
    const p = await project(s.url);
    const run = await update(p.manifest, ['--retries', '0']);
    expect(run.code).toBe(ExitCode.sources);
    expect(codes(run)).toContain('ESOURCES');
    await expectCleanState(p, FILES, { installed: false, allowPartials: true });
    // the next run, against a healed server, resumes from the partial instead of starting over
    s.setFaults({});
    const again = await update(p.manifest);
    expect(again.code).toBe(0);
    expect(s.requestsTo(MODEL_URL).at(-1)!.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    await expectCleanState(p, FILES, { installed: true });
  });

  it('ignores Range (200) on the resume: starts over from byte 0 and installs the right bytes', async () => {
    const s = await server();
    s.fault(MODEL_URL, { cutAfter: 100_000, cutMode: 'rst' });
    s.fault(MODEL_URL, { ignoreRange: true });
    const p = await project(s.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(0);
    await expectCleanState(p, FILES, { installed: true });
  });

  it('answers the resume with a 206 from the wrong start: starts over without Range', async () => {
    const s = await server();
    s.fault(MODEL_URL, { cutAfter: 100_000, cutMode: 'fin' });
    s.fault(MODEL_URL, { rangeStartShift: -1000 });
    const p = await project(s.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(0);
    await expectCleanState(p, FILES, { installed: true });
    expect(s.requestsTo(MODEL_URL).at(-1)!.headers.range).toBeUndefined();
  });

  it('answers the resume with 416: starts over without Range', async () => {
    const s = await server();
    s.fault(MODEL_URL, { cutAfter: 100_000, cutMode: 'fin' });
    s.fault(MODEL_URL, { rangeNotSatisfiable: true });
    const p = await project(s.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(0);
    await expectCleanState(p, FILES, { installed: true });
  });
});

describe('the file changes on the server between attempts (ETag)', () => {
  it('same bytes, new ETag: the resume is fine', async () => {
    const s = await server();
    s.fault(MODEL_URL, { cutAfter: 100_000, cutMode: 'fin', headers: { etag: '"v1"' } });
    s.fault(MODEL_URL, { headers: { etag: '"v2"' } });
    const p = await project(s.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(0);
    await expectCleanState(p, FILES, { installed: true });
  });

  it('the first response was a stale copy, the resume comes from the right one: re-downloads from 0 and installs', async () => {
    const stale = bytes(MODEL.data.length, 99);
    const s = await server([{ ...MODEL, data: stale }, CONFIG]);
    s.fault(MODEL_URL, { cutAfter: 100_000, cutMode: 'fin', headers: { etag: '"stale"' } });
    const p = await project(s.url); // the manifest describes MODEL, not the stale copy
    // after the cut, the server has the right bytes (a CDN node caught up)
    const healed = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (s.requestsTo(MODEL_URL).length >= 1) {
          s.setFile(MODEL_URL, MODEL.data);
          clearInterval(timer);
          resolve();
        }
      }, 1);
    });
    const run = await update(p.manifest);
    await healed;
    expect(run.stderr + run.stdout).not.toMatch(/Internal error/);
    expect(run.code).toBe(0);
    await expectCleanState(p, FILES, { installed: true });
  });

  it('different bytes on the server than the manifest says: exit 4, nothing installed, no partial kept', async () => {
    const other = bytes(MODEL.data.length, 7);
    const s = await server();
    s.fault(MODEL_URL, { cutAfter: 100_000, cutMode: 'fin', headers: { etag: '"v1"' } });
    const p = await project(s.url);
    const watcher = setInterval(() => {
      if (s.requestsTo(MODEL_URL).length >= 1) s.setFile(MODEL_URL, other);
    }, 1);
    try {
      const run = await update(p.manifest);
      expect(run.code).toBe(ExitCode.integrity);
      expect(codes(run)).toContain('EINTEGRITY');
    } finally {
      clearInterval(watcher);
    }
    await expectCleanState(p, FILES, { installed: false });
  });
});

describe('wrong answers are refused early, with the right exit status', () => {
  it('Content-Length different from the manifest size: exit 3 (ESIZE), nothing installed, no temp file', async () => {
    const s = await server();
    s.fault(MODEL_URL, { contentLength: MODEL.data.length + 10 }, 20);
    const p = await project(s.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(ExitCode.sources);
    expect(codes(run)).toContain('ESIZE');
    await expectCleanState(p, FILES, { installed: false });
  });

  it('a body longer than the manifest size (no Content-Length): exit 3 (ESIZE), nothing kept', async () => {
    const longer = Buffer.concat([MODEL.data, Buffer.from('trailing garbage')]);
    const s = await server();
    s.fault(
      MODEL_URL,
      {
        handler: (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/octet-stream', connection: 'close' });
          res.end(longer);
        },
      },
      20,
    );
    const p = await project(s.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(ExitCode.sources);
    expect(codes(run)).toContain('ESIZE');
    await expectCleanState(p, FILES, { installed: false });
  });

  it('compressed on the fly although identity was asked for: exit 3 (ESIZE, the hint names the encoding), nothing installed', async () => {
    const s = await server();
    s.fault(MODEL_URL, { gzip: true }, 20);
    const p = await project(s.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(ExitCode.sources);
    expect(codes(run)).toContain('ESIZE');
    await expectCleanState(p, FILES, { installed: false });
  });

  it('Content-Encoding: gzip on an artifact whose bytes are gzip (S3 metadata): saved raw, verified, installed', async () => {
    const archive = { id: ID, path: 'tokenizer.json.gz', data: gzipSync(Buffer.from('{"vocab": {"a": 1}}\n'.repeat(2000))) };
    const files = [archive, CONFIG];
    const s = await server(files);
    s.fault(`/${ID}/${archive.path}`, { headers: { 'content-encoding': 'gzip' } }, 20);
    const p = await project(s.url, files);
    const run = await update(p.manifest);
    expect(run.code).toBe(0);
    await expectCleanState(p, files, { installed: true });
  });

  it('corrupted bytes: exit 4, the previous install stays untouched, nothing enters the store', async () => {
    const s = await server();
    const p = await project(s.url);
    expect((await update(p.manifest)).code).toBe(0);
    // a new version of the model is published; the server corrupts it
    const v2 = bytes(MODEL.data.length + 1000, 2);
    const files2 = [{ ...MODEL, data: v2 }, CONFIG];
    s.setFile(MODEL_URL, v2);
    await fs.writeFile(p.manifest, manifestYaml({ artifacts: artifactsOf(files2), sources: [{ name: 'mirror', url: s.url }] }));
    s.fault(MODEL_URL, { corrupt: [10, 200_000] }, 20);
    const run = await update(p.manifest);
    expect(run.code).toBe(ExitCode.integrity);
    expect(codes(run)).toContain('EINTEGRITY');
    await expectCleanState(p, files2, { installed: (f) => f === CONFIG, previous: new Map([[`${ID}/${MODEL.path}`, MODEL.data]]) });
    expect(await fs.readdir(path.join(p.cacheDir, 'sha256', sha256(v2).slice(0, 2))).catch(() => [])).not.toContain(sha256(v2));
  });
});

describe('retries before the body', () => {
  it('503 twice, then the file: installed', async () => {
    const s = await server();
    s.fault(MODEL_URL, { status: 503 }, 2);
    const p = await project(s.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(0);
    expect(s.requestsTo(MODEL_URL)).toHaveLength(3);
    await expectCleanState(p, FILES, { installed: true });
  });

  it('429 with Retry-After: 1, then the file: waits a second, then installs', async () => {
    const s = await server();
    s.fault(MODEL_URL, { status: 429, headers: { 'retry-after': '1' } });
    const p = await project(s.url);
    const clock = recordingClock();
    const run = await update(p.manifest, [], {}, clock);
    expect(run.code).toBe(0);
    const [first, second] = s.requestsTo(MODEL_URL);
    expect(first && second).toBeTruthy();
    expect(clock.slept).toEqual([1000]);
    await expectCleanState(p, FILES, { installed: true });
  });

  it('500 for ever: gives up after --retries with exit 3 naming the status; no temp file', async () => {
    const s = await server();
    s.fault(MODEL_URL, { status: 500 }, 100);
    const p = await project(s.url);
    const run = await update(p.manifest, ['--retries', '1']);
    expect(run.code).toBe(ExitCode.sources);
    expect(codes(run)).toMatch(/HTTP 500/);
    await expectCleanState(p, FILES, { installed: false });
  });
});

describe('redirects', () => {
  it('a redirect loop: exit 3 (EREDIRECT), nothing installed', async () => {
    const s = await server();
    s.fault(`/${ID}/loop-a`, { redirect: `/${ID}/loop-b` }, 50);
    s.fault(`/${ID}/loop-b`, { redirect: `/${ID}/loop-a` }, 50);
    s.fault(MODEL_URL, { redirect: `/${ID}/loop-a` }, 50);
    const p = await project(s.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(ExitCode.sources);
    expect(codes(run)).toContain('EREDIRECT');
    await expectCleanState(p, FILES, { installed: false });
  });

  it('cross-origin redirect: followed, the token stays home, the file is verified and installed', async () => {
    const origin = await server();
    const other = await server();
    origin.fault(MODEL_URL, { redirect: `${other.origin}${MODEL_URL}?X-Amz-Signature=canarysig` });
    const p = await project(origin.url, FILES, { tokenEnv: 'MODELS_TOKEN' });
    const run = await update(p.manifest, [], { MODELS_TOKEN: 'canary-token-123' });
    expect(run.code).toBe(0);
    expect(origin.requestsTo(MODEL_URL)[0]!.headers.authorization).toBe('Bearer canary-token-123');
    expect(other.requestsTo(MODEL_URL)[0]!.headers.authorization).toBeUndefined();
    expect(run.stdout + run.stderr).not.toMatch(/canary/);
    await expectCleanState(p, FILES, { installed: true });
  });

  it('cross-origin redirect to a server with other bytes: exit 4, not installed', async () => {
    const origin = await server();
    const evil = await server([{ ...MODEL, data: bytes(MODEL.data.length, 66) }, CONFIG]);
    origin.fault(MODEL_URL, { redirect: `${evil.origin}${MODEL_URL}` }, 20);
    const p = await project(origin.url);
    const run = await update(p.manifest);
    expect(run.code).toBe(ExitCode.integrity);
    await expectCleanState(p, FILES, { installed: false });
  });
});

// ───────────── faults that need short timeouts or a custom DNS: the fetch engine + installer directly ─────────────

const ENTRY: FileEntry = { path: MODEL.path, size: MODEL.data.length, sha256: sha256(MODEL.data) };

async function fetchAndInstall(url: string, http: HttpSourceOptions, dirs?: { hostDir: string; cacheDir: string }) {
  const p = dirs ?? (await tempProject('version: 1\n'));
  const source = createHttpSource({ name: 'mirror', kind: 'http', base: url }, http);
  try {
    const r = await fetchBlob({ cacheDir: p.cacheDir, artifactId: ID, file: ENTRY, sources: [source], reopenDelayMs: 10, partialMinAgeMs: 0 });
    await ensureRealDir(p.hostDir, ID);
    await materialiseFile(p.hostDir, r.blob, hostFilePath(p.hostDir, ID, MODEL.path), ENTRY);
    return { p, result: r, error: undefined };
  } catch (error) {
    return { p, result: undefined, error: error as ModelmountError };
  }
}

const FAST: HttpSourceOptions = {
  timeouts: { connectMs: 2000, idleMs: 400, stallWindowMs: 400, stallBytesPerSec: 4096 },
  retry: { limit: 2, baseDelayMs: 10, maxDelayMs: 200 },
};

describe('stalls and drips (short timeouts)', () => {
  it('stall before the first byte: the request times out, is retried, and the file installs', async () => {
    const s = await server([MODEL]);
    s.fault(MODEL_URL, { stallBeforeHeadersMs: Infinity });
    const { p, error } = await fetchAndInstall(s.url, FAST);
    expect(error).toBeUndefined();
    await expectCleanState(p, [MODEL], { installed: true });
    expect(s.requestsTo(MODEL_URL)).toHaveLength(2);
  });

  it('stall mid-body: the idle timeout fires, the rest is fetched with Range, the file installs', async () => {
    const s = await server([MODEL]);
    s.fault(MODEL_URL, { stallAfter: 150_000, stallMs: Infinity });
    const { p, error, result } = await fetchAndInstall(s.url, FAST);
    expect(error).toBeUndefined();
    expect(result!.transferred).toBe(MODEL.data.length);
    expect(s.requestsTo(MODEL_URL)[1]!.headers.range).toMatch(/^bytes=\d+-$/);
    await expectCleanState(p, [MODEL], { installed: true });
  });

  it('drip one byte at a time: the throughput watchdog ends it, the rest is resumed, the file installs', async () => {
    const s = await server([MODEL]);
    s.fault(MODEL_URL, { dripBytes: 1, dripIntervalMs: 2 });
    const t0 = Date.now();
    const { p, error } = await fetchAndInstall(s.url, FAST);
    expect(error).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(10_000);
    const resumeAt = Number(/bytes=(\d+)-/.exec(String(s.requestsTo(MODEL_URL)[1]!.headers.range))?.[1]);
    expect(resumeAt).toBeGreaterThan(0); // the dripped bytes were kept
    await expectCleanState(p, [MODEL], { installed: true });
  });

  it('drip for ever: gives up with exit 3 (stalled), keeps the true-prefix partial for the next run', async () => {
    const s = await server([MODEL]);
    s.fault(MODEL_URL, { dripBytes: 1, dripIntervalMs: 2 }, 100);
    const { p, error } = await fetchAndInstall(s.url, FAST);
    expect(error).toBeInstanceOf(AllSourcesFailedError);
    expect(error!.exitCode).toBe(ExitCode.sources);
    expect(error!.message).toMatch(/stalled/i);
    await expectCleanState(p, [MODEL], { installed: false, allowPartials: true });
  }, 30_000);
});

describe('redirect to plain http', () => {
  it('https source → http://models.test (resolves to 127.0.0.1): refused before contacting it, exit 3', async () => {
    const tls = await server([MODEL], { tls: true });
    const plain = await server([MODEL]);
    const lookup = ((hostname: string, options: unknown, cb: unknown) => {
      const callback = (typeof options === 'function' ? options : cb) as (...a: unknown[]) => void;
      const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
      if (hostname === 'models.test') {
        if (all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
        else callback(null, '127.0.0.1', 4);
      } else callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    }) as unknown as LookupFunction;
    tls.fault(MODEL_URL, { redirect: `http://models.test:${plain.port}${MODEL_URL}` });
    const { p, error } = await fetchAndInstall(`https://models.test:${tls.port}/`, { ...FAST, ca: TEST_TLS.cert, lookup });
    expect(error).toBeInstanceOf(AllSourcesFailedError);
    expect(error!.exitCode).toBe(ExitCode.sources);
    expect(error!.message).toMatch(/insecure|redirect/i);
    expect(plain.requests).toHaveLength(0);
    expect(tls.requestsTo(MODEL_URL).length).toBeGreaterThan(0); // the https side was really used
    await expectCleanState(p, [MODEL], { installed: false });
  });

  it('the same https source without the redirect installs (the lookup and the CA work)', async () => {
    const tls = await server([MODEL], { tls: true });
    const lookup = ((_h: string, options: unknown, cb: unknown) => {
      const callback = (typeof options === 'function' ? options : cb) as (...a: unknown[]) => void;
      if (typeof options === 'object' && options !== null && (options as { all?: boolean }).all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    }) as unknown as LookupFunction;
    const { p, error } = await fetchAndInstall(`https://models.test:${tls.port}/`, { ...FAST, ca: TEST_TLS.cert, lookup });
    expect(error).toBeUndefined();
    await expectCleanState(p, [MODEL], { installed: true });
  });
});
