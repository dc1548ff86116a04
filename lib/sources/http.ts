/**
 * An HTTP(S) server as a source, via got 14 in stream mode.
 *
 * What this module guarantees to its caller (lib/store/fetch-blob.ts):
 * - `open()` resolves only after response headers that were checked: status, Content-Range
 *   against the requested offset, Content-Length / total against the manifest size (any
 *   Content-Encoding is kept as sent, never decoded: the sha256 decides). Connection failures, 5xx, 429 and 408 before the body are retried
 *   here (exponential backoff with jitter, Retry-After honoured).
 * - The returned stream delivers exactly the bytes from `start` to the end of the file, or
 *   errors with a SourceError (ETRUNCATED, ECONNRESET, ESTALLED, ESIZE): it never ends early
 *   without an error. Failures in the body are NOT retried here; the caller reopens with a new
 *   offset.
 * - No hangs: connect timeout, idle (socket) timeout, and a minimum-throughput watchdog.
 * - Redirects: at most 5, loops refused, never to plain http (except loopback), the bearer
 *   token only ever goes to the source's own origin.
 * - HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured (got has no proxy support of its own:
 *   a small CONNECT-tunnel / forwarding agent lives at the end of this file).
 * - Every message is redacted (no token, no userinfo, no query string) and errors carry
 *   only a sanitised `cause`, never got's error objects (they hold the request headers).
 */
import type { LookupFunction } from 'node:net';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Got, OptionsInit, Request as GotRequest } from 'got';
import { SourceError, type SourceErrorCode } from '../errors.ts';
import type { ResolvedSource } from '../manifest/schema.ts';
import { redactText, redactUrl } from '../redact.ts';
import { seconds, STALL_DEFAULTS } from '../stall.ts';
import type { OpenedRange, OpenRequest, Source } from './types.ts';
import { guardBody } from './guard-body.ts';
import { systemClock, type Clock } from '../clock.ts';

export interface HttpSourceOptions {
  /** Environment for tokenEnv and the proxy variables; default process.env. */
  env?: NodeJS.ProcessEnv;
  timeouts?: {
    /** DNS lookup + TCP connect (+ proxy CONNECT) limit, ms. Default 15 000. */
    connectMs?: number;
    /** No byte received for this long (waiting for headers or in the body), ms. Default 30 000. */
    idleMs?: number;
    /** Minimum throughput; below it for a whole window the transfer is abandoned. Default 1024 B/s. */
    stallBytesPerSec?: number;
    /** Window for the throughput watchdog, ms. Default 30 000. */
    stallWindowMs?: number;
  };
  retry?: {
    /** Retries after the first attempt, before the body starts. Default 4. */
    limit?: number;
    /** Upper bound for one backoff wait, Retry-After included, ms. Default 30 000. */
    maxDelayMs?: number;
    /** First backoff, doubled each retry, ms. Default 500. */
    baseDelayMs?: number;
  };
  userAgent?: string;
  /** Trusted CA certificate(s), PEM, replacing the system store for this source (private mirror, tests). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** DNS lookup for direct connections (tests map made-up names to loopback). */
  lookup?: LookupFunction;
  /** waits between retries (Retry-After, backoff) */
  clock?: Clock;
}

export const HTTP_DEFAULTS = {
  connectMs: 15_000,
  ...STALL_DEFAULTS,
  retryLimit: 4,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxRedirects: 5,
} as const;

const RETRY_STATUSES = new Set([408, 429]);

// ───────────────────────────── small pure helpers (exported for tests) ─────────────────────────────

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. Accepts URL.hostname ("[::1]") too. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  if (h === 'localhost') return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/** base + artifactId + "/" + path, every segment percent-encoded; the base's query string is kept. */
export function fileUrl(base: string, artifactId: string, filePath: string): URL {
  const url = new URL(base);
  const segments = [...artifactId.split('/'), ...filePath.split('/')].filter((s) => s !== '').map(encodeURIComponent);
  const prefix = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  url.pathname = prefix + segments.join('/');
  return url;
}

/** Retry-After (delta-seconds or HTTP-date) in ms from `now`, or undefined when absent/unparseable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const when = Date.parse(v);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/**
 * Wait before retry number `retry` (1-based): Retry-After when the server gave one, otherwise
 * exponential backoff with "equal jitter" (between half and all of base·2^(retry-1)); both capped.
 */
export function retryDelayMs(
  retry: number,
  retryAfter: string | undefined,
  opts: { baseDelayMs: number; maxDelayMs: number },
  now: number = Date.now(),
  random: () => number = Math.random,
): number {
  const fromServer = parseRetryAfter(retryAfter, now);
  if (fromServer !== undefined) return Math.min(fromServer, opts.maxDelayMs);
  const exp = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/**
 * Parse `Content-Range: bytes <start>-<end>/<total|*>`.
 */
export function parseContentRange(value: string | undefined): { start: number; end: number; total?: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) return undefined;
  return m[3] === '*' ? { start, end } : { start, end, total: Number(m[3]) };
}

function entryMatchesCidr(host: string, entry: string): boolean {
  const [addr, bits] = entry.split('/');
  if (addr === undefined || bits === undefined || !/^\d+$/.test(bits)) return false;
  const family = net.isIPv4(addr) ? 'ipv4' : net.isIPv6(addr) ? 'ipv6' : undefined;
  const hostFamily = net.isIPv4(host) ? 'ipv4' : net.isIPv6(host) ? 'ipv6' : undefined;
  if (!family || family !== hostFamily) return false;
  try {
    const list = new net.BlockList();
    list.addSubnet(addr, Number(bits), family);
    return list.check(host, family);
  } catch {
    return false;
  }
}

/**
 * NO_PROXY semantics (curl-like): comma/space separated; `*` matches everything; `host`
 * matches the host and its subdomains; `.host` / `*.host` the same; `host:port` only that
 * port; IP addresses exactly; `10.0.0.0/8` style CIDR blocks.
 */
export function matchesNoProxy(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let entryPort: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    const hostPort = /^([^:]+):(\d+)$/.exec(entry);
    if (bracketed) {
      entry = bracketed[1] ?? '';
      entryPort = bracketed[2];
    } else if (hostPort) {
      entry = hostPort[1] ?? '';
      entryPort = hostPort[2];
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    if (entry.includes('/')) {
      if (entryMatchesCidr(host, entry)) return true;
      continue;
    }
    if (entry.startsWith('*.')) entry = entry.slice(1);
    const bare = entry.replace(/^\./, '').replace(/\.$/, '');
    if (bare === '') continue;
    if (host === bare || host.endsWith(`.${bare}`)) return true;
  }
  return false;
}

/**
 * The proxy to use for `target`, from https_proxy/HTTPS_PROXY (https targets) or
 * http_proxy/HTTP_PROXY (http targets), unless no_proxy/NO_PROXY matches. Loopback
 * targets are never proxied. Lowercase variables win over uppercase ones, like curl.
 * Only http:// proxies are supported (a scheme-less value means http://).
 */
export function proxyForUrl(target: URL, env: NodeJS.ProcessEnv): URL | undefined {
  if (isLoopbackHost(target.hostname)) return undefined;
  const raw =
    target.protocol === 'https:' ? env.https_proxy || env.HTTPS_PROXY : target.protocol === 'http:' ? env.http_proxy || env.HTTP_PROXY : undefined;
  if (!raw) return undefined;
  if (matchesNoProxy(target, env.no_proxy || env.NO_PROXY || '')) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new SourceError('EPROXY', `the proxy setting for ${target.protocol.slice(0, -1)} is not a URL: ${redactUrl(raw)}`, {
      retryable: false,
      hint: 'Set HTTPS_PROXY / HTTP_PROXY to http://host:port (or unset it).',
    });
  }
  if (proxy.protocol !== 'http:') {
    throw new SourceError('EPROXY', `unsupported proxy ${redactUrl(proxy.href)}: only http:// proxies are supported`, {
      retryable: false,
      hint: 'Use an http:// proxy URL in HTTPS_PROXY / HTTP_PROXY (HTTPS traffic is still tunnelled end-to-end with CONNECT), or add the host to NO_PROXY.',
    });
  }
  return proxy;
}

// ───────────────────────────── error mapping ─────────────────────────────

type Secrets = readonly (string | undefined)[];

interface Ctx {
  display: string;
  /** " via proxy http://…" when the first hop goes through a proxy */
  via: string;
  /** redacted URL of the file */
  where: string;
  secrets: Secrets;
  sourceName: string;
}

/** A cause that is safe to serialise: the redacted message and the code, nothing else. */
function sanitisedCause(err: unknown, secrets: Secrets): Error {
  const e = err as { message?: unknown; code?: unknown } | undefined;
  const clean = new Error(redactText(String(e?.message ?? err), secrets));
  if (typeof e?.code === 'string') (clean as Error & { code?: string }).code = e.code;
  return clean;
}

function sourceError(
  ctx: Ctx,
  code: SourceErrorCode,
  reason: string,
  opts: { retryable: boolean; status?: number; cause?: unknown; hint?: string; network?: boolean },
): SourceError {
  return new SourceError(code, redactText(`${reason} (GET ${ctx.where}${opts.network ? ctx.via : ''})`, ctx.secrets), {
    retryable: opts.retryable,
    ...(opts.hint ? { hint: opts.hint } : {}),
    ...(opts.cause !== undefined ? { cause: sanitisedCause(opts.cause, ctx.secrets) } : {}),
    data: { source: ctx.sourceName, url: ctx.where, ...(opts.status !== undefined ? { status: opts.status } : {}) },
  });
}

let gotModule: Promise<Got> | undefined;
/** got, imported on the first request: ~75 ms of start-up that a run with nothing to download never pays. */
function loadGot(): Promise<Got> {
  gotModule ??= import('got').then((m) => m.default);
  return gotModule;
}

/** Re-wrap a SourceError raised inside got (hooks, agents) so it names the file and stays redacted. */
function rewrap(ctx: Ctx, err: SourceError): SourceError {
  if (err.message.includes(ctx.where)) return err;
  return sourceError(ctx, err.code, err.message, { retryable: err.retryable, ...(err.hint ? { hint: err.hint } : {}) });
}

function statusError(ctx: Ctx, status: number, tokenEnv: string | undefined): SourceError {
  const reason = `HTTP ${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
  if (status === 401 || status === 403) {
    return sourceError(ctx, 'EAUTH', reason, {
      retryable: false,
      status,
      hint: tokenEnv ? `Check the token in ${tokenEnv} (expired? wrong scope?).` : 'The server wants credentials: set tokenEnv for this source in the manifest.',
    });
  }
  // EMISSING, not ENOTFOUND: Node gives that code to a failed DNS lookup (EDNS here)
  if (status === 404 || status === 410) return sourceError(ctx, 'EMISSING', reason, { retryable: false, status });
  return sourceError(ctx, 'EHTTP', reason, { retryable: status >= 500 || RETRY_STATUSES.has(status), status });
}

const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/;

/** Map an error raised before the response (connect, TLS, redirect, abort, timeout) to a SourceError. */
function requestError(ctx: Ctx, err: unknown, t: Required<NonNullable<HttpSourceOptions['timeouts']>>): SourceError {
  const e = err as { code?: string; name?: string; event?: string; cause?: unknown; message?: string };
  if (err instanceof SourceError) return rewrap(ctx, err);
  if (e.cause instanceof SourceError) return rewrap(ctx, e.cause);
  const code = e.code ?? '';
  if (e.name === 'AbortError' || code === 'ERR_ABORTED' || code === 'ABORT_ERR') {
    return sourceError(ctx, 'EABORTED', 'aborted', { retryable: false });
  }
  if (code === 'ERR_TOO_MANY_REDIRECTS') {
    return sourceError(ctx, 'EREDIRECT', `more than ${HTTP_DEFAULTS.maxRedirects} redirects`, { retryable: false });
  }
  if (e.name === 'TimeoutError' || code === 'ETIMEDOUT') {
    const event = e.event ?? '';
    if (event === 'lookup' || event === 'connect' || event === 'secureConnect') {
      return sourceError(ctx, 'ETIMEDOUT', `timed out connecting (${event}, ${seconds(t.connectMs)})`, { retryable: true, cause: err, network: true });
    }
    return sourceError(ctx, 'ETIMEDOUT', `no response for ${seconds(t.idleMs)}`, { retryable: true, cause: err, network: true });
  }
  switch (code) {
    case 'ECONNREFUSED':
      return sourceError(ctx, code, 'connection refused', { retryable: true, cause: err, network: true });
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return sourceError(ctx, 'ECONNRESET', 'connection reset before the response', { retryable: true, cause: err, network: true });
    case 'ENOTFOUND':
      return sourceError(ctx, 'EDNS', 'host not found (DNS)', { retryable: false, cause: err, network: true });
    case 'EAI_AGAIN':
      return sourceError(ctx, 'EDNS', 'DNS lookup failed temporarily', { retryable: true, cause: err, network: true });
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
    case 'ENETDOWN':
    case 'EHOSTDOWN':
      return sourceError(ctx, 'ENETWORK', `network unreachable (${code})`, { retryable: true, cause: err, network: true });
    default:
      break;
  }
  if (TLS_CODES.test(code)) {
    return sourceError(ctx, 'ETLS', `TLS certificate problem (${code})`, {
      retryable: false,
      cause: err,
      hint: 'The server certificate is not trusted for this host. Fix the certificate, or trust the CA with NODE_EXTRA_CA_CERTS.',
    });
  }
  return sourceError(ctx, 'ENETWORK', `network error${code ? ` (${code})` : ''}`, { retryable: true, cause: err, network: true });
}

// ───────────────────────────── the source ─────────────────────────────

interface Attempt {
  stream: GotRequest;
  status: number;
  headers: http.IncomingHttpHeaders;
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}


export function createHttpSource(src: ResolvedSource, opts: HttpSourceOptions = {}): Source {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? systemClock;
  const t = {
    connectMs: opts.timeouts?.connectMs ?? HTTP_DEFAULTS.connectMs,
    idleMs: opts.timeouts?.idleMs ?? HTTP_DEFAULTS.idleMs,
    stallBytesPerSec: opts.timeouts?.stallBytesPerSec ?? HTTP_DEFAULTS.stallBytesPerSec,
    stallWindowMs: opts.timeouts?.stallWindowMs ?? HTTP_DEFAULTS.stallWindowMs,
  };
  const retry = {
    limit: opts.retry?.limit ?? HTTP_DEFAULTS.retryLimit,
    maxDelayMs: opts.retry?.maxDelayMs ?? HTTP_DEFAULTS.maxDelayMs,
    baseDelayMs: opts.retry?.baseDelayMs ?? HTTP_DEFAULTS.baseDelayMs,
  };
  const base = new URL(src.base);
  const baseOrigin = base.origin;
  const display = `${src.name} (${redactUrl(src.base)})`;
  // Everything in the base URL that could be secret: password and every query value.
  const baseSecrets = [base.password ? decodeURIComponent(base.password) : undefined, base.password || undefined, base.search.slice(1) || undefined];
  for (const v of base.searchParams.values()) if (v.length >= 4) baseSecrets.push(v);
  const userAgent = opts.userAgent ?? 'modelmount';
  const agents = {
    http: new ProxyAwareHttpAgent(env, t.connectMs),
    https: new ProxyAwareHttpsAgent(env, t.connectMs),
  };

  function viaText(url: URL): string {
    try {
      const proxy = proxyForUrl(url, env);
      return proxy ? ` via proxy ${redactUrl(proxy.href)}` : '';
    } catch {
      return '';
    }
  }

  function readToken(): string | undefined {
    if (!src.tokenEnv) return undefined;
    const value = env[src.tokenEnv]?.trim();
    if (!value) {
      throw new SourceError('ENOTOKEN', `${src.name}: the environment variable ${src.tokenEnv} is ${env[src.tokenEnv] === undefined ? 'not set' : 'empty'}`, {
        retryable: false,
        hint: `Export ${src.tokenEnv} with the access token for ${redactUrl(src.base)} (in CI: a secret), then run again.`,
        data: { source: src.name, tokenEnv: src.tokenEnv },
      });
    }
    return value;
  }

  function gotOptions(
    method: 'GET' | 'HEAD',
    token: string | undefined,
    range: string | undefined,
    signal: AbortSignal | undefined,
    ifRange?: string,
  ): OptionsInit {
    const visited = new Set<string>();
    const headers: Record<string, string> = { 'user-agent': userAgent, 'accept-encoding': 'identity' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (range) headers.range = range;
    if (range && ifRange) headers['if-range'] = ifRange;
    return {
      method,
      headers,
      decompress: false,
      throwHttpErrors: false,
      followRedirect: true,
      maxRedirects: HTTP_DEFAULTS.maxRedirects,
      retry: { limit: 0 },
      strictContentLength: true,
      http2: false,
      agent: agents,
      ...(opts.ca !== undefined ? { https: { certificateAuthority: opts.ca } } : {}),
      ...(opts.lookup ? { dnsLookup: opts.lookup } : {}),
      ...(signal ? { signal } : {}),
      timeout: { lookup: t.connectMs, connect: t.connectMs, secureConnect: t.connectMs, socket: t.idleMs, response: t.idleMs },
      hooks: {
        beforeRedirect: [
          (updated, response) => {
            const from = response.requestUrl;
            if (visited.size === 0) visited.add(from.href);
            const next = updated.url instanceof URL ? updated.url : new URL(String(updated.url));
            if (visited.has(next.href)) {
              throw new SourceError('EREDIRECT', `redirect loop: ${redactUrl(next.href)} was visited already`, { retryable: false });
            }
            visited.add(next.href);
            const sameOriginAsBase = next.origin === baseOrigin;
            const secure = next.protocol === 'https:' || (next.protocol === 'http:' && (isLoopbackHost(next.hostname) || sameOriginAsBase));
            if (!secure) {
              throw new SourceError('EREDIRECT', `refused redirect to insecure ${redactUrl(next.href)} (only https, or http on loopback)`, {
                retryable: false,
                hint: 'The server redirects to plain http. Fix the server or mirror, or use a source URL that does not redirect.',
              });
            }
            if (!sameOriginAsBase) {
              // got strips Authorization on host/port changes but not on a scheme change: do it ourselves.
              delete updated.headers.authorization;
              updated.username = '';
              updated.password = '';
            }
          },
        ],
      },
    };
  }

  /** One request; resolves when headers arrived. The stream is still open (caller consumes or destroys it). */
  async function attemptOnce(url: URL, gopts: OptionsInit, ctx: Ctx): Promise<Attempt> {
    const got = await loadGot();
    return new Promise((resolve, reject) => {
      let stream: GotRequest;
      try {
        stream = got.stream(url, { ...gopts, isStream: true } as OptionsInit & { isStream: true });
      } catch (err) {
        reject(requestError(ctx, err, t));
        return;
      }
      const onError = (err: unknown) => {
        stream.off('response', onResponse);
        stream.destroy();
        reject(requestError(ctx, err, t));
      };
      const onResponse = (response: http.IncomingMessage) => {
        stream.off('error', onError);
        // Until someone consumes the stream, swallow late errors (they resurface via guardBody).
        stream.on('error', () => {});
        resolve({ stream, status: response.statusCode ?? 0, headers: response.headers });
      };
      stream.once('error', onError);
      stream.once('response', onResponse);
    });
  }

  /** attemptOnce with retries on retryable failures and statuses; resolves for 2xx, 416 (and any < 500 for HEAD). */
  async function request(
    url: URL,
    method: 'GET' | 'HEAD',
    token: string | undefined,
    range: string | undefined,
    ctx: Ctx,
    signal?: AbortSignal,
    ifRange?: string,
  ): Promise<Attempt> {
    for (let retryNo = 0; ; retryNo++) {
      let failure: SourceError;
      let retryAfter: string | undefined;
      if (signal?.aborted) throw sourceError(ctx, 'EABORTED', 'aborted', { retryable: false });
      try {
        const a = await attemptOnce(url, gotOptions(method, token, range, signal, ifRange), ctx);
        const ok = method === 'HEAD' ? a.status < 500 : (a.status >= 200 && a.status < 300) || a.status === 416;
        if (ok) return a;
        a.stream.destroy();
        failure = statusError(ctx, a.status, src.tokenEnv);
        retryAfter = header(a.headers, 'retry-after');
      } catch (err) {
        failure = err instanceof SourceError ? err : requestError(ctx, err, t);
      }
      if (!failure.retryable || failure.code === 'EABORTED' || retryNo >= retry.limit) {
        if (retryNo > 0 && failure.retryable) {
          throw new SourceError(failure.code, `${failure.message}; gave up after ${retryNo + 1} attempts`, {
            retryable: failure.retryable,
            ...(failure.hint ? { hint: failure.hint } : {}),
            ...(failure.cause !== undefined ? { cause: failure.cause } : {}),
            data: { ...failure.data, attempts: retryNo + 1 },
          });
        }
        throw failure;
      }
      try {
        await clock.sleep(retryDelayMs(retryNo + 1, retryAfter, retry, clock.now()), signal);
      } catch {
        throw sourceError(ctx, 'EABORTED', 'aborted', { retryable: false });
      }
    }
  }

  function sizeError(ctx: Ctx, what: string, got_: number, expected: number, encoding?: string): SourceError {
    return sourceError(ctx, 'ESIZE', `the server says ${what} is ${got_} bytes, the manifest says ${expected}`, {
      retryable: false,
      hint: encoding
        ? `The server sent Content-Encoding: ${encoding.slice(0, 40)} although identity was asked for: it compresses the file on the fly. Serve it without compression (for nginx: gzip off for this location).`
        : 'The file on the server is not the one in the manifest. Fix the source, or update the manifest entry.',
    });
  }

  /** what identifies the version of the file an answer carries: a strong ETag, else Last-Modified */
  function validatorOf(headers: Attempt['headers']): string | undefined {
    const etag = header(headers, 'etag');
    return etag && !etag.startsWith('W/') ? etag : header(headers, 'last-modified');
  }

  async function open(req: OpenRequest): Promise<OpenedRange> {
    const token = readToken();
    const url = fileUrl(src.base, req.artifactId, req.path);
    if (token) {
      // got would turn URL userinfo into Basic auth and overwrite the bearer token.
      url.username = '';
      url.password = '';
    }
    const ctx: Ctx = { display, where: redactUrl(url.href), via: viaText(url), secrets: [token, ...baseSecrets], sourceName: src.name };
    const expected = req.expectedSize;
    const offset = req.offset > 0 && req.offset < expected ? req.offset : 0;
    // one piece of the file (several connections for one large file), else the rest of it
    const end = req.end !== undefined && req.end > offset && req.end < expected ? req.end : expected;

    // Resuming (the caller keeps the validator of the answer its bytes came from, in this run or an
    // earlier one): If-Range makes a server whose file changed since answer 200 with the new file
    // at once, instead of a 206 tail that would not verify.
    const ifRange = offset > 0 || end < expected ? req.validator : undefined;
    const wanted = offset > 0 || end < expected ? `bytes=${offset}-${end < expected ? end - 1 : ''}` : undefined;
    let a = await request(url, 'GET', token, wanted, ctx, req.signal, ifRange);
    let start = 0;
    let stop = expected;
    if (wanted) {
      if (a.status === 206) {
        const cr = parseContentRange(header(a.headers, 'content-range'));
        if (cr?.total !== undefined && cr.total !== expected) {
          a.stream.destroy();
          throw sizeError(ctx, 'the file', cr.total, expected);
        }
        const cl = header(a.headers, 'content-length');
        const lengthOk = cl === undefined || (cr !== undefined && Number(cl) === cr.end - cr.start + 1);
        if (cr && cr.start === offset && cr.end === end - 1 && lengthOk) {
          start = offset;
          stop = end;
        } else if (offset === 0 && cr && cr.start === 0 && cr.end === expected - 1 && lengthOk) {
          // the whole file as a 206: fine, the caller sees `end` and falls back to one connection
        } else {
          // A range we did not ask for: cannot resume; start over.
          a.stream.destroy();
          a = await request(url, 'GET', token, undefined, ctx, req.signal);
        }
      } else if (a.status === 416) {
        a.stream.destroy();
        a = await request(url, 'GET', token, undefined, ctx, req.signal);
      }
      // 200: the server ignored the range; start stays 0.
    }
    if (a.status === 416 || (a.status === 206 && start === 0)) {
      // Without a Range header a 206 or 416 is nonsense; a 206 from 0 covering the file is fine.
      const cr = parseContentRange(header(a.headers, 'content-range'));
      if (!(a.status === 206 && cr && cr.start === 0 && (cr.total === undefined || cr.total === expected))) {
        a.stream.destroy();
        if (cr?.total !== undefined && cr.total !== expected) throw sizeError(ctx, 'the file', cr.total, expected);
        throw sourceError(ctx, 'EHTTP', `unexpected HTTP ${a.status} to a request without Range`, { retryable: false, status: a.status });
      }
    } else if (a.status !== 200 && a.status !== 203 && a.status !== 206) {
      a.stream.destroy();
      throw sourceError(ctx, 'EHTTP', `unexpected HTTP ${a.status} ${http.STATUS_CODES[a.status] ?? ''}`.trimEnd(), { retryable: false, status: a.status });
    }
    // Content-Encoding is never decoded (got's decompress is off): the raw bytes are saved and the
    // sha256 decides, like curl, wget and aria2c. An object stored gzip with that metadata (S3) is
    // the manifest's bytes; a server compressing on the fly fails the size or the hash.
    const encoding = header(a.headers, 'content-encoding')?.trim().toLowerCase();
    const unlessIdentity = encoding && encoding !== 'identity' ? encoding : undefined;
    const cl = header(a.headers, 'content-length');
    if (cl !== undefined && /^\d+$/.test(cl.trim()) && Number(cl) !== stop - start) {
      a.stream.destroy();
      throw stop < expected
        ? sizeError(ctx, `bytes ${start}-${stop - 1}`, Number(cl), stop - start, unlessIdentity)
        : start > 0
          ? sizeError(ctx, `the rest from byte ${start}`, Number(cl), expected - start, unlessIdentity)
          : sizeError(ctx, 'the file', Number(cl), expected, unlessIdentity);
    }
    const stream = guardBody(a.stream, {
      expected: stop - start,
      start,
      total: expected,
      idleMs: t.idleMs,
      stallBytesPerSec: t.stallBytesPerSec,
      stallWindowMs: t.stallWindowMs,
      fail: (code, reason, retryable, cause) => sourceError(ctx, code, reason, { retryable, cause }),
    });
    return { start, end: stop, totalSize: expected, validator: validatorOf(a.headers), stream };
  }

  /**
   * Reachability, not authorisation: HEAD of the base URL (with the token, same redirect rules).
   * Resolves on any HTTP answer below 500 (a 403/404 on a folder URL is normal for object stores);
   * rejects with the same SourceErrors as open() for 5xx (after retries), DNS, TLS, proxy and
   * connection failures, and ENOTOKEN when tokenEnv is set but empty.
   */
  async function probe(signal?: AbortSignal): Promise<void> {
    const token = readToken();
    const url = new URL(base.href);
    if (token) {
      url.username = '';
      url.password = '';
    }
    const ctx: Ctx = { display, where: redactUrl(url.href), via: viaText(url), secrets: [token, ...baseSecrets], sourceName: src.name };
    const a = await request(url, 'HEAD', token, undefined, ctx, signal);
    a.stream.destroy();
  }

  const prepare = (): void => {
    loadGot().catch(() => {}); // the first open() reports a failure
  };
  return { name: src.name, kind: 'http', display, ranges: true, open, probe, prepare };
}

// ───────────────────────────── proxy agents ─────────────────────────────
// got 14 has no proxy support of its own (its docs point at `tunnel` / `hpagent` agents).
// These two agents decide per connection, from the environment, whether to go direct or
// through an http:// proxy: CONNECT tunnel for https targets, absolute-form forwarding for http.

const PROXY = Symbol('modelmount.proxy');

function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(creds).toString('base64')}`;
}

function proxySecrets(proxy: URL): string[] {
  return [proxy.password, proxy.password ? decodeURIComponent(proxy.password) : ''].filter((s) => s !== '');
}

function targetUrl(protocol: 'http:' | 'https:', host: string, port: number | string | undefined): URL {
  const h = net.isIPv6(host) ? `[${host}]` : host;
  return new URL(`${protocol}//${h}${port ? `:${port}` : ''}/`);
}

/** Open a CONNECT tunnel to host:port through `proxy`. */
export function connectTunnel(proxy: URL, host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const proxyName = redactUrl(proxy.href);
  const secrets = proxySecrets(proxy);
  const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: proxy.hostname.replace(/^\[|\]$/g, ''), port: Number(proxy.port) || 80 });
    let buffered = Buffer.alloc(0);
    let settled = false;
    const finish = (err?: SourceError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const timer = setTimeout(() => {
      finish(new SourceError('EPROXY', `proxy ${proxyName} did not open a tunnel to ${authority} within ${seconds(timeoutMs)}`, { retryable: true }));
    }, timeoutMs);
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ECONNREFUSED' ? 'connection refused' : redactText(err.code ?? err.message, secrets);
      finish(new SourceError('EPROXY', `cannot reach proxy ${proxyName}: ${why}`, { retryable: true, cause: sanitisedCause(err, secrets) }));
    };
    const onClose = () => finish(new SourceError('EPROXY', `proxy ${proxyName} closed the connection during CONNECT`, { retryable: true }));
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buffered.length > 16 * 1024) finish(new SourceError('EPROXY', `proxy ${proxyName} sent an oversized CONNECT answer`, { retryable: false }));
        return;
      }
      const statusLine = buffered.subarray(0, buffered.indexOf('\r\n')).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
      if (status !== 200) {
        const reason = status ? `HTTP ${status} ${http.STATUS_CODES[status] ?? ''}`.trim() : 'a malformed answer';
        finish(
          new SourceError('EPROXY', `proxy ${proxyName} refused the tunnel to ${authority}: ${reason}`, {
            retryable: status >= 500 || status === 429,
            ...(status === 407 ? { hint: 'The proxy wants credentials: put them in the proxy URL (http://user:password@proxy:port).' } : {}),
          }),
        );
        return;
      }
      if (buffered.length > end + 4) {
        finish(new SourceError('EPROXY', `proxy ${proxyName} sent data before the TLS handshake`, { retryable: false }));
        return;
      }
      finish();
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('connect', () => {
      const auth = proxyAuthorization(proxy);
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`);
    });
  });
}

type ConnectionCallback = (err: Error | null, stream: import('node:stream').Duplex) => void;

class ProxyAwareHttpsAgent extends https.Agent {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly connectMs: number,
  ) {
    super({ keepAlive: true, scheduling: 'lifo' });
  }

  override createConnection(options: https.RequestOptions, callback?: ConnectionCallback) {
    const host = options.hostname ?? options.host ?? 'localhost';
    let proxy: URL | undefined;
    try {
      proxy = proxyForUrl(targetUrl('https:', host, options.port ?? 443), this.env);
    } catch (err) {
      process.nextTick(() => callback?.(err as Error, undefined as never));
      return undefined;
    }
    if (!proxy) return super.createConnection(options, callback);
    connectTunnel(proxy, host, Number(options.port ?? 443), this.connectMs).then(
      (raw) => {
        const { path: _path, ...rest } = options as https.RequestOptions & { path?: string };
        const secure = tls.connect({
          ...(rest as tls.ConnectionOptions),
          socket: raw,
          servername: options.servername ?? (net.isIP(host) ? undefined : host),
        });
        callback?.(null, secure);
      },
      (err: unknown) => callback?.(err as Error, undefined as never),
    );
    return undefined;
  }
}

class ProxyAwareHttpAgent extends http.Agent {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly connectMs: number,
  ) {
    super({ keepAlive: true, scheduling: 'lifo' });
  }

  /** Node calls this synchronously from the ClientRequest constructor, before the head is written. */
  addRequest(req: http.ClientRequest, options: http.RequestOptions & { [PROXY]?: URL }): void {
    const host = options.hostname ?? options.host ?? 'localhost';
    const target = targetUrl('http:', host, options.port ?? 80);
    let proxy: URL | undefined;
    try {
      proxy = proxyForUrl(target, this.env);
    } catch (err) {
      process.nextTick(() => req.destroy(err as Error));
      return;
    }
    if (proxy) {
      req.path = `${target.origin}${req.path}`;
      const auth = proxyAuthorization(proxy);
      if (auth) req.setHeader('proxy-authorization', auth);
      options[PROXY] = proxy;
    }
    (http.Agent.prototype as unknown as { addRequest(r: http.ClientRequest, o: unknown): void }).addRequest.call(this, req, options);
  }

  override getName(options?: http.ClientRequestArgs & { [PROXY]?: URL }): string {
    const name = super.getName(options);
    return options?.[PROXY] ? `${name}:via:${options[PROXY].host}` : name;
  }

  override createConnection(options: http.ClientRequestArgs & { [PROXY]?: URL }, callback?: ConnectionCallback) {
    const proxy = options[PROXY];
    if (!proxy) return super.createConnection(options, callback);
    const socket = net.connect({ host: proxy.hostname.replace(/^\[|\]$/g, ''), port: Number(proxy.port) || 80 });
    const timer = setTimeout(() => {
      socket.destroy(new SourceError('EPROXY', `cannot reach proxy ${redactUrl(proxy.href)} within ${seconds(this.connectMs)}`, { retryable: true }));
    }, this.connectMs);
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
    return socket;
  }
}
