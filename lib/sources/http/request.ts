/**
 * One request of an HTTP source through got (stream mode), resolved when the headers arrived:
 * identity encoding, timeouts, at most 5 redirects (loops refused, never to plain http except
 * loopback, the bearer token only to the source's own origin), and retries before the body on
 * connection failures, 5xx, 408 and 429 (Retry-After honoured).
 */
import type http from 'node:http';
import type { Agents, Got, OptionsInit, Request as GotRequest } from 'got';
import type { Clock } from '../../clock.ts';
import { SourceError } from '../../errors.ts';
import { importDependency, throwIfDependencyError } from '../../import-dependency.ts';
import { redactUrl } from '../../redact.ts';
import { gaveUp, requestError, sourceError, statusError, type Ctx } from './errors.ts';
import { HTTP_DEFAULTS, type HttpRetry, type HttpTimeouts } from './options.ts';
import { retryDelayMs } from './retry.ts';
import { isLoopbackHost } from './url.ts';

export interface Attempt {
  stream: GotRequest;
  status: number;
  headers: http.IncomingHttpHeaders;
}

export function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

let gotModule: Promise<Got> | undefined;
/** got, imported on the first request: ~75 ms of start-up that a run with nothing to download never pays. */
export function loadGot(): Promise<Got> {
  gotModule ??= importDependency('got', () => import('got')).then((m) => m.default);
  return gotModule;
}

export interface RequesterConfig {
  /** the source's own origin: the only one the bearer token goes to */
  baseOrigin: string;
  userAgent: string;
  timeouts: HttpTimeouts;
  retry: HttpRetry;
  clock: Clock;
  agents: Agents;
  tokenEnv: string | undefined;
  ca?: string | Buffer | Array<string | Buffer>;
  lookup?: import('node:net').LookupFunction;
}

export interface RequestArgs {
  method: 'GET' | 'HEAD';
  token: string | undefined;
  range?: string;
  ifRange?: string;
  signal?: AbortSignal;
}

export function createRequester(cfg: RequesterConfig): (url: URL, args: RequestArgs, ctx: Ctx) => Promise<Attempt> {
  const t = cfg.timeouts;

  function gotOptions({ method, token, range, ifRange, signal }: RequestArgs): OptionsInit {
    const visited = new Set<string>();
    const headers: Record<string, string> = { 'user-agent': cfg.userAgent, 'accept-encoding': 'identity' };
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
      agent: cfg.agents,
      ...(cfg.ca !== undefined ? { https: { certificateAuthority: cfg.ca } } : {}),
      ...(cfg.lookup ? { dnsLookup: cfg.lookup } : {}),
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
            const sameOriginAsBase = next.origin === cfg.baseOrigin;
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

  /**
   * One request; resolves when headers arrived. The stream is still open (caller consumes or destroys it).
   * Rejects with got's error as it is: request() says what it means.
   */
  function attemptOnce(got: Got, url: URL, gopts: OptionsInit): Promise<Attempt> {
    return new Promise((resolve, reject) => {
      let stream: GotRequest;
      try {
        stream = got.stream(url, { ...gopts, isStream: true } as OptionsInit & { isStream: true });
      } catch (err) {
        reject(err);
        return;
      }
      const onError = (err: unknown) => {
        stream.off('response', onResponse);
        stream.destroy();
        reject(err);
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
  return async function request(url: URL, args: RequestArgs, ctx: Ctx): Promise<Attempt> {
    const { method, signal } = args;
    // before any attempt: got that cannot be loaded is a broken installation, not a failed request
    const got = await loadGot();
    for (let retryNo = 0; ; retryNo++) {
      let failure: SourceError;
      let retryAfter: string | undefined;
      if (signal?.aborted) throw sourceError(ctx, 'EABORTED', 'aborted', { retryable: false });
      try {
        const a = await attemptOnce(got, url, gotOptions(args));
        const ok = method === 'HEAD' ? a.status < 500 : (a.status >= 200 && a.status < 300) || a.status === 416;
        if (ok) return a;
        a.stream.destroy();
        failure = statusError(ctx, a.status, cfg.tokenEnv);
        retryAfter = header(a.headers, 'retry-after');
      } catch (err) {
        throwIfDependencyError(err); // a proxy agent's, wrapped by got
        failure = err instanceof SourceError ? err : requestError(ctx, err, t);
      }
      if (!failure.retryable || failure.code === 'EABORTED' || retryNo >= cfg.retry.limit) {
        throw retryNo > 0 && failure.retryable ? gaveUp(failure, retryNo + 1) : failure;
      }
      try {
        await cfg.clock.sleep(retryDelayMs(retryNo + 1, retryAfter, cfg.retry, cfg.clock.now()), signal);
      } catch {
        throw sourceError(ctx, 'EABORTED', 'aborted', { retryable: false });
      }
    }
  };
}
