/**
 * An HTTP(S) server as a source, via got 14 in stream mode.
 *
 * What this module guarantees to its caller (lib/store/fetch-blob.ts):
 * - `open()` resolves only after response headers that were checked: status, Content-Range
 *   against the requested offset, Content-Length / total against the manifest size (any
 *   Content-Encoding is kept as sent, never decoded: the sha256 decides). Connection failures, 5xx, 429 and 408 before the body are retried
 *   (request.ts: exponential backoff with jitter, Retry-After honoured).
 * - The returned stream delivers exactly the bytes from `start` to the end of the file, or
 *   errors with a SourceError (ETRUNCATED, ECONNRESET, ESTALLED, ESIZE): it never ends early
 *   without an error. Failures in the body are NOT retried here; the caller reopens with a new
 *   offset.
 * - No hangs: connect timeout, idle (socket) timeout, and a minimum-throughput watchdog.
 * - Redirects: at most 5, loops refused, never to plain http (except loopback), the bearer
 *   token only ever goes to the source's own origin.
 * - HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured (got has no proxy support of its own:
 *   proxy-agent.ts chooses per request, the proxy-agents library tunnels).
 * - Every message is redacted (no token, no userinfo, no query string) and errors carry
 *   only a sanitised `cause`, never got's error objects (they hold the request headers).
 */
import http from 'node:http';
import { systemClock } from '../../clock.ts';
import { SourceError } from '../../errors.ts';
import type { ResolvedSource } from '../../manifest/schema.ts';
import { redactUrl } from '../../redact.ts';
import { guardBody } from '../guard-body.ts';
import type { OpenedRange, OpenRequest, Source } from '../types.ts';
import { sizeError, sourceError, type Ctx } from './errors.ts';
import { resolveHttpOptions, type HttpSourceOptions } from './options.ts';
import { proxyForUrl } from './proxy-env.ts';
import { createProxyAgents } from './proxy-agent.ts';
import { parseContentRange, partialAnswer, plannedRange } from './range.ts';
import { createRequester, header, loadGot, type Attempt } from './request.ts';
import { fileUrl } from './url.ts';

export function createHttpSource(src: ResolvedSource, opts: HttpSourceOptions = {}): Source {
  const env = opts.env ?? process.env;
  const { timeouts: t, retry } = resolveHttpOptions(opts);
  const base = new URL(src.base);
  const baseOrigin = base.origin;
  const display = `${src.name} (${redactUrl(src.base)})`;
  // Everything in the base URL that could be secret: password and every query value.
  const baseSecrets = [base.password ? decodeURIComponent(base.password) : undefined, base.password || undefined, base.search.slice(1) || undefined];
  for (const v of base.searchParams.values()) if (v.length >= 4) baseSecrets.push(v);
  const userAgent = opts.userAgent ?? 'modelmount';
  const agents = createProxyAgents(env, t.connectMs);

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

  const request = createRequester({
    baseOrigin,
    userAgent,
    timeouts: t,
    retry,
    clock: opts.clock ?? systemClock,
    agents,
    tokenEnv: src.tokenEnv,
    ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
  });

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
    const { offset, end, range: wanted, ifRange } = plannedRange(req);
    let a = await request(url, { method: 'GET', token, range: wanted, ifRange, signal: req.signal }, ctx);
    let start = 0;
    let stop = expected;
    if (wanted) {
      if (a.status === 206) {
        const cr = parseContentRange(header(a.headers, 'content-range'));
        if (cr?.total !== undefined && cr.total !== expected) {
          a.stream.destroy();
          throw sizeError(ctx, 'the file', cr.total, expected);
        }
        const kind = partialAnswer(cr, header(a.headers, 'content-length'), { offset, end, size: expected });
        if (kind === 'asked') {
          start = offset;
          stop = end;
        } else if (kind === 'other') {
          // A range we did not ask for: cannot resume; start over.
          a.stream.destroy();
          a = await request(url, { method: 'GET', token, signal: req.signal }, ctx);
        }
      } else if (a.status === 416) {
        a.stream.destroy();
        a = await request(url, { method: 'GET', token, signal: req.signal }, ctx);
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
    const a = await request(url, { method: 'HEAD', token, signal }, ctx);
    a.stream.destroy();
  }

  const prepare = (): void => {
    loadGot().catch(() => {}); // the first open() reports a failure
  };
  return { name: src.name, kind: 'http', display, ranges: true, open, probe, prepare };
}
