import { randomBytes } from 'node:crypto';
import { getEventListeners, once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo, type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { SourceError } from '../lib/errors.ts';
import { redactText, redactUrl } from '../lib/redact.ts';
import type { HttpSourceOptions } from '../lib/sources/http/options.ts';
import { createProxyAgents } from '../lib/sources/http/proxy-agent.ts';
import { matchesNoProxy, proxyForUrl } from '../lib/sources/http/proxy-env.ts';
import { parseContentRange } from '../lib/sources/http/range.ts';
import { parseRetryAfter, retryDelayMs } from '../lib/sources/http/retry.ts';
import { createHttpSource } from '../lib/sources/http/source.ts';
import { fileUrl, isLoopbackHost } from '../lib/sources/http/url.ts';
import type { Source } from '../lib/sources/types.ts';
import { startFaultServer, startTestProxy, TEST_TLS, type FaultServer, type TestProxy } from './helpers/with-server.ts';
import { recordingClock } from './helpers/clock.ts';

const ART = 'student/v0_ja';
const FILE = 'model.bin';
const PATH = `/${ART}/${FILE}`;
const DATA = randomBytes(300 * 1024);
const TOKEN = 'canary-TOKEN-4f1d2a9b7c';
const TOKEN_ENV = 'MM_TEST_TOKEN';

/** Small timeouts so every failure test ends in well under a few seconds. */
const FAST: HttpSourceOptions = {
  timeouts: { connectMs: 1000, idleMs: 300, stallBytesPerSec: 1024, stallWindowMs: 400 },
  retry: { limit: 2, baseDelayMs: 10, maxDelayMs: 50 },
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function server(files: Record<string, Buffer> = { [PATH]: DATA }, tls: boolean | 'both' = false): Promise<FaultServer> {
  const s = await startFaultServer({ files, tls });
  cleanups.push(() => s.close());
  return s;
}

async function proxy(options?: Parameters<typeof startTestProxy>[0]): Promise<TestProxy> {
  const p = await startTestProxy(options);
  cleanups.push(() => p.close());
  return p;
}

function source(base: string, opts: HttpSourceOptions = {}, tokenEnv?: string): Source {
  return createHttpSource(
    { name: 'mirror', kind: 'http', base, ...(tokenEnv ? { tokenEnv } : {}) },
    { ...FAST, env: {}, ...opts, timeouts: { ...FAST.timeouts, ...opts.timeouts }, retry: { ...FAST.retry, ...opts.retry } },
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function rejection(p: Promise<unknown>): Promise<SourceError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SourceError);
    return err as SourceError;
  }
  throw new Error('expected a rejection');
}

const open = (src: Source, offset = 0, expectedSize = DATA.length, signal?: AbortSignal) =>
  src.open({ artifactId: ART, path: FILE, offset, expectedSize, ...(signal ? { signal } : {}) });

/** Everything an error could leak through: message, JSON, stack, cause, hint, data. */
function everything(err: unknown): string {
  const e = err as SourceError;
  const cause = e.cause as Error | undefined;
  return [e.message, e.stack, e.hint, JSON.stringify(e), JSON.stringify(e.data), JSON.stringify(e.toJSON?.()), cause?.message, cause?.stack, JSON.stringify(cause)].join('\n');
}

const lookupToLoopback: LookupFunction = (_hostname, options, callback) => {
  const cb = callback as unknown as (...args: unknown[]) => void;
  if ((options as { all?: boolean }).all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
};

describe('redact', () => {
  it('redactUrl drops userinfo, query and fragment', () => {
    expect(redactUrl('https://user:pw@example.com:8443/a/b.bin?X-Amz-Signature=abc&x=1#frag')).toBe('https://example.com:8443/a/b.bin?<redacted>');
    expect(redactUrl('https://example.com/a/')).toBe('https://example.com/a/');
    expect(redactUrl('http://[::1]:80/x#only-fragment')).toBe('http://[::1]/x?<redacted>');
    expect(redactUrl('not a url?secret=1')).toBe('not a url?<redacted>');
    expect(redactUrl('weird://user:pw@?q')).not.toContain('pw');
  });

  it('redactText hides secrets (raw and percent-encoded), URL queries, userinfo and bearer tokens', () => {
    const text =
      'GET https://bob:hunter22@host/x?sig=canary-sig failed (https://h/y?a=b). token canary TOKEN/with+plus sent as canary%20TOKEN%2Fwith%2Bplus; Authorization: Bearer abcdef123456';
    const out = redactText(text, ['canary TOKEN/with+plus']);
    expect(out).not.toMatch(/hunter22|canary-sig|canary|abcdef123456|a=b/);
    expect(out).toContain('https://host/x?<redacted>');
    expect(out).toContain('(https://h/y?<redacted>).');
    expect(redactText('no secrets here', ['', undefined])).toBe('no secrets here');
    // got's HTTPError.message, verbatim shape
    expect(redactText('Request failed with status code 404 (Not Found): GET http://127.0.0.1:37493/m?X-Amz-Signature=canary-sig')).toBe(
      'Request failed with status code 404 (Not Found): GET http://127.0.0.1:37493/m?<redacted>',
    );
    expect(redactText('{"authorization":"Basic dXNlcjpwYXNz"}')).not.toContain('dXNlcjpwYXNz');
  });
});

describe('pure helpers', () => {
  it('builds the file URL with every segment encoded and the base query kept', () => {
    expect(fileUrl('https://h/models/', 'student/v0_ja', 'dir/a b#c?.bin').href).toBe('https://h/models/student/v0_ja/dir/a%20b%23c%3F.bin');
    expect(fileUrl('https://h/c?sv=1&sig=x', 'a', 'b').href).toBe('https://h/c/a/b?sv=1&sig=x');
  });

  it('parses Retry-After as seconds or HTTP date, and caps the delay', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Mon, 31 Dec 2029 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(retryDelayMs(1, '1', { baseDelayMs: 100, maxDelayMs: 30_000 }, now)).toBe(1000);
    expect(retryDelayMs(1, '3600', { baseDelayMs: 100, maxDelayMs: 30_000 }, now)).toBe(30_000);
    // exponential with equal jitter: [exp/2, exp]
    expect(retryDelayMs(3, undefined, { baseDelayMs: 100, maxDelayMs: 30_000 }, now, () => 0)).toBe(200);
    expect(retryDelayMs(3, undefined, { baseDelayMs: 100, maxDelayMs: 30_000 }, now, () => 1)).toBe(400);
    expect(retryDelayMs(30, undefined, { baseDelayMs: 100, maxDelayMs: 5000 }, now, () => 1)).toBe(5000);
  });

  it('parses Content-Range', () => {
    expect(parseContentRange('bytes 10-99/100')).toEqual({ start: 10, end: 99, total: 100 });
    expect(parseContentRange('bytes 10-99/*')).toEqual({ start: 10, end: 99 });
    expect(parseContentRange('bytes */100')).toBeUndefined();
    expect(parseContentRange(undefined)).toBeUndefined();
  });

  it('classifies loopback hosts', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1', '::ffff:127.0.0.1', 'LOCALHOST.']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['example.com', '10.0.0.1', '128.0.0.1', 'localhost.example.com', '[::2]']) expect(isLoopbackHost(h)).toBe(false);
  });

  it('matches NO_PROXY entries like curl', () => {
    const u = (s: string) => new URL(s);
    expect(matchesNoProxy(u('https://a.corp.example/x'), 'corp.example')).toBe(true);
    expect(matchesNoProxy(u('https://corp.example/x'), '.corp.example')).toBe(true);
    expect(matchesNoProxy(u('https://a.corp.example/x'), '*.corp.example')).toBe(true);
    expect(matchesNoProxy(u('https://notcorp.example/x'), 'corp.example')).toBe(false);
    expect(matchesNoProxy(u('https://x.example/'), 'a.test, *')).toBe(true);
    expect(matchesNoProxy(u('https://x.example:8443/'), 'x.example:8443')).toBe(true);
    expect(matchesNoProxy(u('https://x.example/'), 'x.example:8443')).toBe(false);
    expect(matchesNoProxy(u('http://10.1.2.3/'), '10.0.0.0/8')).toBe(true);
    expect(matchesNoProxy(u('http://11.1.2.3/'), '10.0.0.0/8')).toBe(false);
    expect(matchesNoProxy(u('http://[fd00::1]/'), 'fd00::/8')).toBe(true);
    expect(matchesNoProxy(u('https://x.example/'), '')).toBe(false);
  });

  it('picks the proxy by scheme, lowercase first, never for loopback', () => {
    const env = { HTTPS_PROXY: 'http://upper:3128', https_proxy: 'http://lower:3128', HTTP_PROXY: 'proxy.plain:8080', NO_PROXY: 'internal.example' };
    expect(proxyForUrl(new URL('https://models.example/x'), env)?.host).toBe('lower:3128');
    expect(proxyForUrl(new URL('http://models.example/x'), env)?.href).toBe('http://proxy.plain:8080/');
    expect(proxyForUrl(new URL('https://a.internal.example/x'), env)).toBeUndefined();
    expect(proxyForUrl(new URL('https://127.0.0.1:9/x'), env)).toBeUndefined();
    expect(proxyForUrl(new URL('https://localhost/x'), env)).toBeUndefined();
    expect(proxyForUrl(new URL('https://models.example/x'), {})).toBeUndefined();
    expect(() => proxyForUrl(new URL('https://m.example/'), { HTTPS_PROXY: 'socks5://u:secretpw@p:1080' })).toThrow(/only http:\/\/ proxies/);
    try {
      proxyForUrl(new URL('https://m.example/'), { HTTPS_PROXY: 'socks5://u:secretpw@p:1080' });
    } catch (err) {
      expect(everything(err)).not.toContain('secretpw');
    }
  });

  it('a proxy setting that is not a URL is refused without echoing its password (scheme-less, as curl takes it)', () => {
    const env = { HTTPS_PROXY: 'user:secret@proxy.example:port3128' };
    let caught: unknown;
    try {
      proxyForUrl(new URL('https://m.example/'), env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'EPROXY' });
    expect(String((caught as Error).message)).toContain('HTTPS_PROXY is not a proxy URL');
    expect(everything(caught)).not.toContain('secret');
  });

  it('a password with / ? or # in a proxy setting, or a proxy URL with a path, is never echoed', () => {
    for (const value of ['user:pa/ss-secret@proxy:3128', 'http://user:s3cr?t-secret@proxy:3128', 'http://u:123/secret@proxy:3128', 'http://user:x#secret@proxy:3128']) {
      let caught: unknown;
      try {
        proxyForUrl(new URL('https://m.example/'), { https_proxy: value });
      } catch (err) {
        caught = err;
      }
      expect(caught, value).toMatchObject({ code: 'EPROXY' });
      expect(everything(caught), value).not.toContain('secret');
      expect(String((caught as Error).message)).toContain('https_proxy');
    }
  });
});

describe('createHttpSource: downloads', () => {
  it('downloads the bytes with identity encoding, no Range, a user agent, and a redacted display', async () => {
    const s = await server();
    const src = source(`${s.url}?X-Amz-Signature=canary-sig`, { userAgent: 'modelmount/test' });
    expect(src.display).toBe(`mirror (${s.url}?<redacted>)`);
    const r = await open(src);
    expect(r.start).toBe(0);
    expect(r.totalSize).toBe(DATA.length);
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    const [req] = s.requests;
    expect(req?.headers['accept-encoding']).toBe('identity');
    expect(req?.headers.range).toBeUndefined();
    expect(req?.headers['user-agent']).toBe('modelmount/test');
    expect(req?.url).toBe(`${PATH}?X-Amz-Signature=canary-sig`);
  });

  it('percent-encodes every path segment', async () => {
    const s = await server({ [`/${ART}/dir/a b#1.bin`]: DATA });
    const r = await createHttpSource({ name: 'm', kind: 'http', base: s.url }, { ...FAST, env: {} }).open({
      artifactId: ART,
      path: 'dir/a b#1.bin',
      offset: 0,
      expectedSize: DATA.length,
    });
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(s.requests[0]?.path).toBe(`/${ART}/dir/a%20b%231.bin`);
  });

  it('resumes with Range: bytes=<offset>- and a matching 206', async () => {
    const s = await server();
    const r = await open(source(s.url), 1000);
    expect(r.start).toBe(1000);
    expect((await readAll(r.stream)).equals(DATA.subarray(1000))).toBe(true);
    expect(s.requests.map((q) => q.headers.range)).toEqual(['bytes=1000-']);
  });

  it('returns start 0 when the server ignores the Range (200)', async () => {
    const s = await server();
    s.fault(PATH, { ignoreRange: true });
    const r = await open(source(s.url), 1000);
    expect(r.start).toBe(0);
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(s.requests).toHaveLength(1);
  });

  it('starts over without Range after a 206 with the wrong start', async () => {
    const s = await server();
    s.fault(PATH, { rangeStartShift: 7 });
    const r = await open(source(s.url), 1000);
    expect(r.start).toBe(0);
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(s.requests.map((q) => q.headers.range)).toEqual(['bytes=1000-', undefined]);
  });

  it('starts over without Range after a 416', async () => {
    const s = await server();
    s.fault(PATH, { rangeNotSatisfiable: true });
    const r = await open(source(s.url), 1000);
    expect(r.start).toBe(0);
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(s.requests.map((q) => q.headers.range)).toEqual(['bytes=1000-', undefined]);
  });
});

describe('createHttpSource: If-Range on resume', () => {
  // the caller (fetchBlob) hands back the validator of the answer its bytes came from
  const open = (src: Source, offset: number, validator?: string) => src.open({ artifactId: ART, path: FILE, offset, expectedSize: DATA.length, validator });

  it('resumes with If-Range set to the ETag of the first answer: unchanged file → 206 from the offset', async () => {
    const s = await server();
    s.fault(PATH, { headers: { etag: '"v1"' } }, 2);
    const src = source(s.url);
    const first = await open(src, 0);
    await readAll(first.stream);
    expect(first.validator).toBe('"v1"');
    const resumed = await open(src, 1000, first.validator);
    expect(resumed.start).toBe(1000);
    expect((await readAll(resumed.stream)).equals(DATA.subarray(1000))).toBe(true);
    expect(s.requestsTo(PATH).map((r) => [r.headers.range, r.headers['if-range']])).toEqual([
      [undefined, undefined],
      ['bytes=1000-', '"v1"'],
    ]);
  });

  it('a file changed on the server (new ETag) answers 200 with the whole new file: start 0, no stale tail', async () => {
    const s = await server();
    s.fault(PATH, { headers: { etag: '"v1"' } });
    s.fault(PATH, { headers: { etag: '"v2"' } });
    const src = source(s.url);
    const first = await open(src, 0);
    await readAll(first.stream);
    const resumed = await open(src, 1000, first.validator);
    expect(resumed.start).toBe(0);
    expect((await readAll(resumed.stream)).length).toBe(DATA.length);
    expect(s.requestsTo(PATH)[1]!.headers['if-range']).toBe('"v1"');
  });

  it('sends no If-Range without a validator, or for a weak ETag', async () => {
    const s = await server();
    s.fault(PATH, { headers: { etag: 'W/"weak"' } });
    const src = source(s.url);
    const first = await open(src, 0);
    await readAll(first.stream);
    expect(first.validator).toBeUndefined();
    await readAll((await open(src, 500, first.validator)).stream);
    await readAll((await open(source(s.url), 700)).stream);
    expect(s.requestsTo(PATH).map((r) => r.headers['if-range'])).toEqual([undefined, undefined, undefined]);
  });
});

describe('createHttpSource: retries before the body', () => {
  it('retries 503 and succeeds', async () => {
    const s = await server();
    s.fault(PATH, { status: 503 }, 2);
    const r = await open(source(s.url));
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(s.requestsTo(PATH)).toHaveLength(3);
  });

  it('gives up after the retry limit with the status in the message', async () => {
    const s = await server();
    s.fault(PATH, { status: 502 }, 10);
    const err = await rejection(open(source(s.url)));
    expect(err.code).toBe('EHTTP');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/HTTP 502 Bad Gateway/);
    expect(err.message).toMatch(/gave up after 3 attempts/);
    expect(s.requestsTo(PATH)).toHaveLength(3);
  });

  it('honours Retry-After: 1 on 429', async () => {
    const s = await server();
    s.fault(PATH, { status: 429, headers: { 'retry-after': '1' } });
    const clock = recordingClock();
    const r = await open(source(s.url, { retry: { maxDelayMs: 5000 }, clock }));
    expect(clock.slept).toEqual([1000]);
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(s.requestsTo(PATH)).toHaveLength(2);
  });

  it('retries a connection reset before the headers', async () => {
    const s = await server();
    s.fault(PATH, { resetBeforeHeaders: true });
    const r = await open(source(s.url));
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(s.requestsTo(PATH)).toHaveLength(2);
  });

  it('retries connection refused, then fails with ECONNREFUSED', async () => {
    const s = await startFaultServer();
    const url = s.url;
    await s.close();
    const t0 = Date.now();
    const err = await rejection(open(source(url)));
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^connection refused \(GET http:\/\/127\.0\.0\.1:\d+\/student\/v0_ja\/model\.bin\); gave up after 3 attempts$/);
    expect(err.data?.attempts).toBe(3);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('times out a server that never answers (bounded), retrying it', async () => {
    const s = await server();
    s.fault(PATH, { stallBeforeHeadersMs: Infinity }, 3);
    const t0 = Date.now();
    const err = await rejection(open(source(s.url)));
    expect(err.code).toBe('ETIMEDOUT');
    expect(s.requestsTo(PATH)).toHaveLength(3);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('does not retry 404, and names it', async () => {
    const s = await server();
    const err = await rejection(src404(s));
    expect(err.code).toBe('EMISSING');
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`HTTP 404 Not Found (GET ${s.url}${ART}/missing.bin)`);
    expect(err.data).toMatchObject({ status: 404, source: 'mirror' });
    expect(s.requests).toHaveLength(1);
  });

  it('maps 401/403 to EAUTH with a hint naming the token variable', async () => {
    const s = await server();
    s.fault(PATH, { status: 403 });
    const err = await rejection(open(source(s.url, { env: { [TOKEN_ENV]: TOKEN } }, TOKEN_ENV)));
    expect(err.code).toBe('EAUTH');
    expect(err.hint).toContain(TOKEN_ENV);
    expect(everything(err)).not.toContain(TOKEN);
  });
});

function src404(s: FaultServer) {
  return source(s.url).open({ artifactId: ART, path: 'missing.bin', offset: 0, expectedSize: 1 });
}

describe('createHttpSource: body failures are errors, never a silent short end', () => {
  it('errors when the server closes (FIN) after part of the body', async () => {
    const s = await server();
    s.fault(PATH, { cutAfter: 100_000, cutMode: 'fin' });
    const r = await open(source(s.url));
    const err = await rejection(readAll(r.stream));
    expect(err.code).toBe('ETRUNCATED');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/after 100000 of 307200 bytes/);
  });

  it('a consumer that reads only after the connection closed still gets every byte that arrived, then the error', async () => {
    const s = await server();
    s.fault(PATH, { cutAfter: 100_000, cutMode: 'fin' });
    const r = await open(source(s.url));
    const out = r.stream as Readable & { writableEnded?: boolean };
    // do not read until the connection has ended (a busy consumer): the source has taken note of the end
    for (let i = 0; !(out.destroyed || out.writableEnded); i++) {
      if (i > 1000) throw new Error('the source never noticed the closed connection');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const chunks: Buffer[] = [];
    const err = await rejection(
      (async () => {
        for await (const c of out) chunks.push(c as Buffer);
      })(),
    );
    expect(err.code).toBe('ETRUNCATED');
    expect(Buffer.concat(chunks).equals(DATA.subarray(0, 100_000))).toBe(true);
  });

  it('errors when the server resets (RST) after part of the body', async () => {
    const s = await server();
    s.fault(PATH, { cutAfter: 100_000, cutMode: 'rst' });
    const r = await open(source(s.url));
    const err = await rejection(readAll(r.stream));
    expect(['ECONNRESET', 'ETRUNCATED']).toContain(err.code);
    expect(err.retryable).toBe(true);
  });

  it('errors when a resumed body is cut', async () => {
    const s = await server();
    s.fault(PATH, { cutAfter: 5000, cutMode: 'fin' });
    const r = await open(source(s.url), 1000);
    expect(r.start).toBe(1000);
    const err = await rejection(readAll(r.stream));
    expect(err.code).toBe('ETRUNCATED');
    expect(err.message).toMatch(/after 6000 of 307200 bytes/);
  });

  it('errors on a close-delimited body (no Content-Length) that is short', async () => {
    const s = await server();
    s.fault(PATH, {
      handler: (_req, res) => {
        res.socket?.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'), DATA.subarray(0, 1234)]));
      },
    });
    const r = await open(source(s.url));
    const err = await rejection(readAll(r.stream));
    expect(err.code).toBe('ETRUNCATED');
    expect(err.message).toMatch(/after 1234 of 307200 bytes/);
  });

  it('errors with ESIZE when a body without Content-Length runs past the expected size', async () => {
    const s = await server();
    s.fault(PATH, {
      handler: (_req, res) => {
        res.socket?.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'), DATA, Buffer.from('extra')]));
      },
    });
    const r = await open(source(s.url));
    const err = await rejection(readAll(r.stream));
    expect(err.code).toBe('ESIZE');
    expect(err.retryable).toBe(false);
  });

  it('fails with ESTALLED when the body trickles below the minimum rate', async () => {
    const s = await server();
    s.fault(PATH, { dripBytes: 16, dripIntervalMs: 50 });
    const r = await open(source(s.url));
    const t0 = Date.now();
    const err = await rejection(readAll(r.stream));
    expect(err.code).toBe('ESTALLED');
    expect(err.message).toMatch(/^stalled: < 1 KiB\/s for 0\.4 s, after \d+ of 307200 bytes/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('fails with ESTALLED when the body stops mid-way (idle timeout)', async () => {
    const s = await server();
    s.fault(PATH, { stallAfter: 50_000, stallMs: Infinity });
    const r = await open(source(s.url, { timeouts: { stallWindowMs: 60_000 } }));
    const t0 = Date.now();
    const err = await rejection(readAll(r.stream));
    expect(err.code).toBe('ESTALLED');
    expect(err.message).toMatch(/no data for 0\.3 s, after 50000 of 307200 bytes/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('does not call a slow consumer a stall', async () => {
    const s = await server();
    const r = await open(source(s.url, { timeouts: { stallWindowMs: 100, stallBytesPerSec: 1024 * 1024 * 1024, idleMs: 2000 } }));
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
  });

  it('aborts via the signal', async () => {
    const s = await server();
    s.fault(PATH, { stallAfter: 1000, stallMs: Infinity });
    const ac = new AbortController();
    const r = await open(source(s.url, { timeouts: { idleMs: 10_000, stallWindowMs: 10_000 } }), 0, DATA.length, ac.signal);
    setTimeout(() => ac.abort(), 100);
    const err = await rejection(readAll(r.stream));
    expect(err.code).toBe('EABORTED');
  });

  it('rejects open() with EABORTED when aborted while waiting to retry', async () => {
    const s = await server();
    s.fault(PATH, { status: 503, headers: { 'retry-after': '30' } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const err = await rejection(open(source(s.url, { retry: { maxDelayMs: 30_000 } }), 0, DATA.length, ac.signal));
    expect(err.code).toBe('EABORTED');
  });
});

describe('createHttpSource: refusing wrong answers early', () => {
  it('Content-Encoding: gzip on bytes that are gzip (S3 object metadata): the raw bytes, never decoded', async () => {
    const raw = gzipSync(Buffer.from('{"weights": [1, 2, 3]}\n'.repeat(1000)));
    const s = await server({ [PATH]: raw });
    s.fault(PATH, { headers: { 'content-encoding': 'gzip' } });
    const opened = await open(source(s.url), 0, raw.length);
    expect((await readAll(opened.stream)).equals(raw)).toBe(true);
  });

  it('a server that compresses on the fly: the Content-Length is not the manifest size (ESIZE, naming the encoding)', async () => {
    const s = await server();
    s.fault(PATH, { gzip: true });
    const err = await rejection(open(source(s.url)));
    expect(err.code).toBe('ESIZE');
    expect(err.retryable).toBe(false);
    expect(err.hint).toMatch(/Content-Encoding: gzip/);
  });

  it('fails with ESIZE from Content-Length before reading the body', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 1);
    const s = await server({ [PATH]: big });
    const err = await rejection(open(source(s.url), 0, 1000));
    expect(err.code).toBe('ESIZE');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/the server says the file is 8388608 bytes, the manifest says 1000/);
  });

  it('fails with ESIZE from the Content-Range total on resume', async () => {
    const s = await server();
    const err = await rejection(open(source(s.url), 10, DATA.length + 5));
    expect(err.code).toBe('ESIZE');
    expect(err.message).toMatch(/307200 bytes, the manifest says 307205/);
  });
});

describe('createHttpSource: redirects and the token', () => {
  it('follows a same-origin redirect, keeping the token', async () => {
    const s = await server();
    s.fault(PATH, { redirect: '/elsewhere/blob' });
    s.setFile('/elsewhere/blob', DATA);
    const r = await open(source(s.url, { env: { [TOKEN_ENV]: TOKEN } }, TOKEN_ENV));
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(s.requestsTo('/elsewhere/blob')[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('drops Authorization on a cross-origin redirect (and keeps the Range)', async () => {
    const a = await server();
    const b = await server({ '/cdn/blob': DATA });
    a.fault(PATH, { redirect: `${b.url}cdn/blob?X-Amz-Signature=canary-sig` });
    const r = await open(source(a.url, { env: { [TOKEN_ENV]: TOKEN } }, TOKEN_ENV), 500);
    expect(r.start).toBe(500);
    expect((await readAll(r.stream)).equals(DATA.subarray(500))).toBe(true);
    expect(a.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(b.requests).toHaveLength(1);
    expect(b.requests[0]?.headers.authorization).toBeUndefined();
    expect(b.requests[0]?.headers.range).toBe('bytes=500-');
  });

  it('drops Authorization on an https → http redirect to the same host and port (got 14 would forward it)', async () => {
    const s = await server({ '/plain/blob': DATA }, 'both');
    s.fault(PATH, { redirect: `http://127.0.0.1:${s.port}/plain/blob` });
    const r = await open(source(`https://127.0.0.1:${s.port}/`, { env: { [TOKEN_ENV]: TOKEN }, ca: TEST_TLS.cert }, TOKEN_ENV));
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(s.requests.map((q) => [q.path, q.headers.authorization])).toEqual([
      [PATH, `Bearer ${TOKEN}`],
      ['/plain/blob', undefined],
    ]);
  });

  it('refuses a redirect loop', async () => {
    const s = await server();
    s.fault(PATH, { redirect: '/b' });
    s.fault('/b', { redirect: PATH });
    const err = await rejection(open(source(s.url)));
    expect(err.code).toBe('EREDIRECT');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/redirect loop/);
    expect(s.requests).toHaveLength(2);
  });

  it('refuses more than 5 redirects', async () => {
    const s = await server();
    s.fault(PATH, { redirect: '/r1' });
    for (let i = 1; i <= 6; i++) s.fault(`/r${i}`, { redirect: `/r${i + 1}` });
    const err = await rejection(open(source(s.url)));
    expect(err.code).toBe('EREDIRECT');
    expect(err.message).toMatch(/more than 5 redirects/);
  });

  it('refuses a redirect to plain http on a non-loopback host, without contacting it', async () => {
    const s = await server();
    s.fault(PATH, { redirect: 'http://downgrade.invalid/blob?sig=canary-sig' });
    const t0 = Date.now();
    const err = await rejection(open(source(s.url)));
    expect(err.code).toBe('EREDIRECT');
    expect(err.message).toMatch(/refused redirect to insecure http:\/\/downgrade\.invalid\/blob\?<redacted>/);
    expect(everything(err)).not.toContain('canary-sig');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('fails with ENOTOKEN naming the variable when tokenEnv is unset or empty', async () => {
    const s = await server();
    const err = await rejection(open(source(s.url, { env: {} }, TOKEN_ENV)));
    expect(err.code).toBe('ENOTOKEN');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(TOKEN_ENV);
    const empty = await rejection(open(source(s.url, { env: { [TOKEN_ENV]: ' ' } }, TOKEN_ENV)));
    expect(empty.message).toMatch(/is empty/);
    expect(s.requests).toHaveLength(0);
  });

  it('never leaks the token, a password or the query string in any error', async () => {
    const s = await server();
    const base = `${s.url.replace('http://', 'http://alice:canary-pass@')}?X-Amz-Signature=canary-sig`;
    const tokenBase = `${s.url}?X-Amz-Signature=canary-sig`;
    const env = { [TOKEN_ENV]: TOKEN };
    const errors: unknown[] = [];
    const collect = async (p: Promise<unknown>) => errors.push(await rejection(p));
    s.fault(PATH, { status: 500 }, 3);
    await collect(open(source(tokenBase, { env }, TOKEN_ENV)));
    s.fault(PATH, { status: 500 }, 3);
    await collect(open(source(base)));
    await collect(source(tokenBase, { env }, TOKEN_ENV).open({ artifactId: ART, path: 'nope', offset: 0, expectedSize: 1 }));
    s.fault(PATH, { redirect: `http://evil.invalid/${TOKEN}?sig=canary-sig` });
    await collect(open(source(tokenBase, { env }, TOKEN_ENV)));
    await collect(open(source(tokenBase, { env }, TOKEN_ENV), 0, 5));
    s.fault(PATH, { stallAfter: 10, stallMs: Infinity });
    const r = await open(source(tokenBase, { env }, TOKEN_ENV));
    await collect(readAll(r.stream));
    const closed = await startFaultServer();
    await closed.close();
    await collect(open(source(`${closed.url}?X-Amz-Signature=canary-sig`, { env }, TOKEN_ENV)));
    expect(errors).toHaveLength(7);
    for (const err of errors) {
      const all = everything(err);
      expect(all).not.toContain('canary');
      expect(all).not.toContain('canary%2D');
    }
  });
});

describe('createHttpSource: connections', () => {
  it('reuses one keep-alive connection for requests one after another (plain http, as https does)', async () => {
    const s = await server();
    const src = source(s.url);
    for (let i = 0; i < 3; i++) {
      const r = await src.open({ artifactId: ART, path: FILE, offset: i * 1000, end: (i + 1) * 1000, expectedSize: DATA.length });
      expect((await readAll(r.stream)).equals(DATA.subarray(i * 1000, (i + 1) * 1000))).toBe(true);
    }
    expect(s.requests.map((q) => q.headers.connection)).toEqual(['keep-alive', 'keep-alive', 'keep-alive']);
    expect(new Set(s.requests.map((q) => q.remotePort)).size).toBe(1);
  });

  it('leaves no listener on the signal it was given once a response is read to its end', async () => {
    const s = await server();
    const src = source(s.url);
    const ac = new AbortController();
    for (let i = 0; i < 12; i++) {
      const r = await src.open({ artifactId: ART, path: FILE, offset: 0, expectedSize: DATA.length, signal: ac.signal });
      expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    }
    await new Promise((r) => setImmediate(r));
    // got adds one per request and removes it only when its stream is destroyed: 12 were left (a leak, and Node's MaxListenersExceededWarning on stderr from 11)
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(new Set(s.requests.map((q) => q.remotePort)).size).toBe(1); // still one kept-alive connection
  });

  it('forwards every plain http request through HTTP_PROXY, also on a connection kept from an earlier one', async () => {
    const s = await server();
    const p = await proxy();
    const src = source(`http://models.test:${s.port}/`, { env: { HTTP_PROXY: p.url } });
    for (let i = 0; i < 2; i++) expect((await readAll((await open(src)).stream)).equals(DATA)).toBe(true);
    expect(p.forwards).toEqual([`http://models.test:${s.port}${PATH}`, `http://models.test:${s.port}${PATH}`]);
    expect(s.requests.map((q) => q.url)).toEqual([PATH, PATH]);
  });
});

describe('createHttpSource: proxies', () => {
  it('tunnels https through HTTPS_PROXY with CONNECT', async () => {
    const s = await server({ [PATH]: DATA }, true);
    const p = await proxy();
    const src = source(`https://models.test:${s.port}/`, { env: { HTTPS_PROXY: p.url }, ca: TEST_TLS.cert });
    const r = await open(src);
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(p.connects).toEqual([`models.test:${s.port}`]);
    expect(s.requests[0]?.headers.host).toBe(`models.test:${s.port}`);
  });

  it('sends proxy credentials and reports a 407 without leaking them', async () => {
    const s = await server({ [PATH]: DATA }, true);
    const p = await proxy({ connectStatus: 407 });
    const proxyUrl = p.url.replace('http://', 'http://bob:canary-proxy-pw@');
    const err = await rejection(open(source(`https://models.test:${s.port}/`, { env: { https_proxy: proxyUrl }, ca: TEST_TLS.cert })));
    expect(err.code).toBe('EPROXY');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/HTTP 407/);
    expect(p.proxyAuthorizations[0]).toBe(`Basic ${Buffer.from('bob:canary-proxy-pw').toString('base64')}`);
    expect(everything(err)).not.toContain('canary');
  });

  it('forwards plain http through HTTP_PROXY', async () => {
    const s = await server();
    const p = await proxy();
    const r = await open(source(`http://models.test:${s.port}/`, { env: { HTTP_PROXY: p.url } }));
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(p.forwards).toEqual([`http://models.test:${s.port}${PATH}`]);
    expect(s.requests[0]?.url).toBe(PATH);
  });

  it('forwards concurrent plain http requests to one host each through the proxy (the chooser\'s pool never queues: see keepSocketAlive)', async () => {
    const s = await server();
    const p = await proxy();
    const agents = createProxyAgents({ HTTP_PROXY: p.url }, 5000);
    cleanups.push(async () => {
      agents.http.destroy();
      agents.https.destroy();
    });
    const url = `http://models.test:${s.port}${PATH}`;
    const get = () =>
      new Promise<number>((resolve, reject) => {
        http.get(url, { agent: agents.http }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0)).on('error', reject);
        }).on('error', reject);
      });
    // a queued request would be handed the freed forwarding socket by Node without keepSocketAlive
    // or connect(), so without the proxy's absolute-form rewrite: the proxy answers 400
    expect(await Promise.all([get(), get(), get(), get()])).toEqual([200, 200, 200, 200]);
    expect(p.forwards).toEqual(Array(4).fill(url));
  });

  it('goes direct for NO_PROXY hosts and for loopback', async () => {
    const s = await server({ [PATH]: DATA }, true);
    const p = await proxy();
    const env = { HTTPS_PROXY: p.url, NO_PROXY: 'example.org,.test' };
    const direct = source(`https://models.test:${s.port}/`, { env, ca: TEST_TLS.cert, lookup: lookupToLoopback });
    expect((await readAll((await open(direct)).stream)).equals(DATA)).toBe(true);
    const loop = source(`https://127.0.0.1:${s.port}/`, { env: { HTTPS_PROXY: p.url }, ca: TEST_TLS.cert });
    expect((await readAll((await open(loop)).stream)).equals(DATA)).toBe(true);
    expect(p.connects).toEqual([]);
    expect(s.requests).toHaveLength(2);
  });

  it('decides per request: a redirect to a NO_PROXY host goes direct, the first hop through the proxy', async () => {
    const cdn = await server({ '/cdn/blob': DATA }, true);
    const s = await server({ [PATH]: DATA }, true);
    s.fault(PATH, { redirect: `https://mirror.test:${cdn.port}/cdn/blob` });
    const p = await proxy();
    const env = { HTTPS_PROXY: p.url, NO_PROXY: 'mirror.test' };
    const r = await open(source(`https://models.test:${s.port}/`, { env, ca: TEST_TLS.cert, lookup: lookupToLoopback }));
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(p.connects).toEqual([`models.test:${s.port}`]);
    expect(cdn.requests[0]?.headers.host).toBe(`mirror.test:${cdn.port}`);
  });

  it('decides per request: a direct first hop redirected to a host that needs the proxy goes through it', async () => {
    const moved = await server({ '/moved/blob': DATA }, true);
    const s = await server({ [PATH]: DATA }, true);
    s.fault(PATH, { redirect: `https://models.test:${moved.port}/moved/blob` });
    const p = await proxy();
    const env = { HTTPS_PROXY: p.url, NO_PROXY: 'mirror.test' };
    const r = await open(source(`https://mirror.test:${s.port}/`, { env, ca: TEST_TLS.cert, lookup: lookupToLoopback }));
    expect((await readAll(r.stream)).equals(DATA)).toBe(true);
    expect(p.connects).toEqual([`models.test:${moved.port}`]);
    expect(s.requests).toHaveLength(1);
  });

  it('keeps a tunnel alive for the next request to the same origin', async () => {
    const s = await server({ [PATH]: DATA }, true);
    const p = await proxy();
    const src = source(`https://models.test:${s.port}/`, { env: { HTTPS_PROXY: p.url }, ca: TEST_TLS.cert });
    for (let i = 0; i < 2; i++) expect((await readAll((await open(src)).stream)).equals(DATA)).toBe(true);
    expect(s.requests).toHaveLength(2);
    expect(p.connects).toEqual([`models.test:${s.port}`]);
  });

  it('gives up on a proxy that accepts and never answers CONNECT, and closes the connection', async () => {
    const closed: Promise<void>[] = [];
    const silent = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.resume(); // reads the CONNECT, never answers; sees the client's FIN
      closed.push(once(socket, 'close').then(() => undefined));
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    cleanups.push(() => new Promise((resolve) => silent.close(() => resolve())));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const err = await rejection(open(source('https://models.test:1/', { env: { HTTPS_PROXY: url }, timeouts: { connectMs: 200 }, retry: { limit: 0 } })));
    expect(err.code).toBe('EPROXY');
    expect(err.message).toMatch(/proxy http:\/\/127\.0\.0\.1:\d+\/ did not open a tunnel to models\.test:1 within/);
    expect(closed).toHaveLength(1);
    await closed[0];
  });

  it('names the proxy when it cannot be reached', async () => {
    const p = await startTestProxy();
    await p.close();
    const err = await rejection(open(source('https://models.test:1/', { env: { HTTPS_PROXY: p.url } })));
    expect(err.code).toBe('EPROXY');
    expect(err.message).toMatch(/cannot reach proxy http:\/\/127\.0\.0\.1:\d+\/: connection refused/);
    expect((err as { hint?: string }).hint).toContain('NO_PROXY');
  });
});

describe('createHttpSource: probe', () => {
  it('accepts any answer below 500 and rejects 5xx and unreachable servers', async () => {
    const s = await server();
    await expect(source(`${s.url}nothing-here/`).probe?.()).resolves.toBeUndefined();
    expect(s.requests[0]?.method).toBe('HEAD');
    s.fault('/down/', { status: 503 }, 3);
    const err = await rejection(source(`${s.url}down/`).probe?.() ?? Promise.resolve());
    expect(err.code).toBe('EHTTP');
    const closed = await startFaultServer();
    await closed.close();
    const refused = await rejection(source(closed.url).probe?.() ?? Promise.resolve());
    expect(refused.code).toBe('ECONNREFUSED');
  });
});

describe('fault server', () => {
  it('records requests and serves ranges', async () => {
    const s = await server();
    const res = await new Promise<http.IncomingMessage>((resolve) => http.get(`${s.url}${PATH.slice(1)}`, { headers: { range: 'bytes=0-9' } }, resolve));
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes 0-9/${DATA.length}`);
    res.resume();
    await once(res, 'end');
    expect(s.requests[0]?.headers.range).toBe('bytes=0-9');
  });
});
