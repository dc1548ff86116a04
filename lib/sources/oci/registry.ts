/**
 * A small client for the OCI distribution API (the registry side of `docker pull` / `oras`):
 * requests with Docker's auth (anonymous, `WWW-Authenticate: Bearer` token flow, Basic, and the
 * credentials of ~/.docker/config.json: `auths`, `credHelpers`, `credsStore`), redirects (blob
 * downloads often go to object storage: the Authorization header never follows to another origin),
 * timeouts, and retries before the body on connection failures, 5xx and 429.
 *
 * Plain http only to a loopback registry or with `insecure: true`.
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { systemClock, type Clock } from '../../clock.ts';
import { SourceError, type SourceErrorCode } from '../../errors.ts';
import { dependencyErrorIn } from '../../import-dependency.ts';
import { redactText } from '../../redact.ts';
import { gaveUp } from '../http/errors.ts';
import { HTTP_DEFAULTS, resolveHttpOptions, type HttpSourceOptions } from '../http/options.ts';
import { createProxyAgents, type ProxyAgents } from '../http/proxy-agent.ts';
import { retryDelayMs } from '../http/retry.ts';
import { isLoopbackHost } from '../http/url.ts';
import { dockerCredentials, parseChallenge, type Challenge, type RegistryCredentials } from './auth.ts';
import type { OciReference } from './reference.ts';

export interface RegistryResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
  url: URL;
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH';
  headers?: Record<string, string>;
  /** a body, or a way to make it again (a retried upload re-reads its file) */
  body?: Buffer | (() => Readable);
  /** the actions this request needs in the token scope */
  actions?: 'pull' | 'pull,push';
  signal?: AbortSignal;
  /** statuses to return instead of throwing (others become SourceErrors); default 2xx */
  accept?: (status: number) => boolean;
}

export function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readText(body: Readable, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > limit) break;
    chunks.push(c as Buffer);
  }
  body.destroy();
  return Buffer.concat(chunks).toString('utf8');
}

export { readText };

export class RegistryClient {
  readonly base: URL;
  private readonly env: NodeJS.ProcessEnv;
  private readonly connectMs: number;
  readonly idleMs: number;
  private readonly retry: { limit: number; baseDelayMs: number; maxDelayMs: number };
  /** backoff waits (tests run them without real time; Ctrl+C ends them) */
  private readonly clock: Clock;
  private creds: Promise<RegistryCredentials | undefined> | undefined;
  /** bearer tokens by scope actions; or the Basic header once the registry asked for it */
  private readonly tokens = new Map<string, string>();
  private basic = false;
  private readonly secrets: string[] = [];
  /** keep-alive, and HTTPS_PROXY / HTTP_PROXY / NO_PROXY decided per request like the http source */
  private readonly agents: ProxyAgents;

  constructor(
    readonly target: OciReference,
    readonly insecure: boolean,
    opts: HttpSourceOptions = {},
  ) {
    this.env = opts.env ?? process.env;
    const host = target.registry.replace(/:\d+$/, '');
    const plain = insecure || isLoopbackHost(host);
    this.base = new URL(`${plain ? 'http' : 'https'}://${target.registry}/`);
    const { timeouts, retry } = resolveHttpOptions(opts);
    this.connectMs = timeouts.connectMs;
    this.idleMs = timeouts.idleMs;
    this.retry = retry;
    this.clock = opts.clock ?? systemClock;
    this.agents = createProxyAgents(this.env, this.connectMs);
  }

  /** What any message may say: every token and password this client has seen, removed. */
  redact(text: string): string {
    return redactText(text, this.secrets);
  }

  error(code: SourceErrorCode, reason: string, what: string, o: { retryable: boolean; status?: number; hint?: string }): SourceError {
    return new SourceError(code, this.redact(`${reason} (${what})`), {
      retryable: o.retryable,
      ...(o.hint ? { hint: o.hint } : {}),
      data: { registry: this.target.registry, repository: this.target.repository, ...(o.status !== undefined ? { status: o.status } : {}) },
    });
  }

  private credentials(): Promise<RegistryCredentials | undefined> {
    this.creds ??= dockerCredentials(this.target.registry, this.env).then((c) => {
      if (c) this.secrets.push(c.password, Buffer.from(`${c.username}:${c.password}`).toString('base64'));
      return c;
    });
    return this.creds;
  }

  private async authHeader(actions: string): Promise<string | undefined> {
    const token = this.tokens.get(actions);
    if (token) return `Bearer ${token}`;
    if (this.basic) {
      const c = await this.credentials();
      if (c) return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    }
    return undefined;
  }

  /** Answer a 401 challenge: fetch a bearer token, or switch to Basic. False when we have nothing to offer. */
  private async answer(challenge: Challenge | undefined, actions: string, what: string, signal?: AbortSignal): Promise<boolean> {
    if (challenge?.scheme === 'basic') {
      if (this.basic || !(await this.credentials())) return false;
      this.basic = true;
      return true;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) return false;
    this.tokens.delete(actions); // expired (tokens live minutes; a download may take longer): get a new one
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
    } catch {
      throw this.error('EAUTH', 'the registry named an unusable token realm', what, { retryable: false });
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && (isLoopbackHost(realm.hostname) || this.insecure))) {
      throw this.error('EAUTH', `refused to send credentials to a plain-http token realm ${realm.origin}`, what, { retryable: false });
    }
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    realm.searchParams.set('scope', `repository:${this.target.repository}:${actions}`);
    const c = await this.credentials();
    const headers: Record<string, string> = { 'user-agent': 'modelmount' };
    if (c) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    const res = await this.once(realm, 'GET', headers, undefined, signal, what);
    const text = await readText(res.body);
    if (res.status === 401 || res.status === 403) {
      throw this.error('EAUTH', `the token service refused ${c ? `the login of ${c.username}` : 'anonymous access'} (HTTP ${res.status})`, what, {
        retryable: false,
        status: res.status,
        hint: c
          ? `Log in again: docker login ${this.target.registry} (the saved credentials were refused).`
          : `Log in first: docker login ${this.target.registry} (modelmount reads ~/.docker/config.json).`,
      });
    }
    if (res.status < 200 || res.status >= 300) throw this.error('EAUTH', `the token service answered HTTP ${res.status}`, what, { retryable: res.status >= 500, status: res.status });
    let token: string | undefined;
    try {
      const j = JSON.parse(text) as { token?: string; access_token?: string };
      token = j.token ?? j.access_token;
    } catch {
      token = undefined;
    }
    if (!token) throw this.error('EAUTH', 'the token service sent no token', what, { retryable: false });
    this.secrets.push(token);
    this.tokens.set(actions, token);
    return true;
  }

  /** One HTTP exchange, redirects followed (Authorization dropped across origins); resolves on headers. */
  private async once(url: URL, method: string, headers: Record<string, string>, body: RequestOptions['body'], signal: AbortSignal | undefined, what: string): Promise<RegistryResponse> {
    let current = url;
    let hdrs = { ...headers };
    for (let hop = 0; ; hop++) {
      const res = await this.exchange(current, method, hdrs, body, signal, what);
      const location = header(res.headers, 'location');
      if ((method === 'GET' || method === 'HEAD') && [301, 302, 303, 307, 308].includes(res.status) && location) {
        res.body.destroy();
        if (hop >= HTTP_DEFAULTS.maxRedirects) throw this.error('EREDIRECT', `more than ${HTTP_DEFAULTS.maxRedirects} redirects`, what, { retryable: false });
        const next = new URL(location, current);
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && (isLoopbackHost(next.hostname) || next.origin === this.base.origin))) {
          throw this.error('EREDIRECT', `refused redirect to insecure ${next.origin}`, what, { retryable: false });
        }
        if (next.origin !== current.origin) {
          const { authorization: _drop, ...rest } = hdrs;
          hdrs = rest;
        }
        current = next;
        continue;
      }
      return res;
    }
  }

  private exchange(url: URL, method: string, headers: Record<string, string>, body: RequestOptions['body'], signal: AbortSignal | undefined, what: string): Promise<RegistryResponse> {
    return new Promise((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      const payload = typeof body === 'function' ? body() : body;
      const req = lib.request(url, { method, headers, agent: url.protocol === 'https:' ? this.agents.https : this.agents.http, ...(signal ? { signal } : {}) });
      const connectTimer = setTimeout(() => req.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT', connect: true })), this.connectMs);
      req.once('socket', (s) => {
        if (!s.connecting) clearTimeout(connectTimer);
        else s.once('connect', () => clearTimeout(connectTimer));
      });
      req.setTimeout(this.idleMs, () => req.destroy(Object.assign(new Error('idle timeout'), { code: 'ETIMEDOUT' })));
      req.once('error', (err) => {
        clearTimeout(connectTimer);
        if (payload && !Buffer.isBuffer(payload)) payload.destroy();
        reject(dependencyErrorIn(err) ?? this.networkError(err, what, signal));
      });
      req.once('response', (res) => {
        clearTimeout(connectTimer);
        res.on('error', () => {}); // surfaces through the consumer (guardBody)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
      });
      if (payload === undefined) req.end();
      else if (Buffer.isBuffer(payload)) req.end(payload);
      else {
        payload.once('error', (err) => req.destroy(err));
        payload.pipe(req);
      }
    });
  }

  private networkError(err: unknown, what: string, signal?: AbortSignal): SourceError {
    // the proxy agent's own failures (EPROXY) already say what went wrong
    if (err instanceof SourceError) return this.error(err.code, err.message, what, { retryable: err.retryable, ...(err.hint ? { hint: err.hint } : {}) });
    const e = err as { code?: string; name?: string; connect?: boolean };
    if (signal?.aborted || e.name === 'AbortError') return this.error('EABORTED', 'aborted', what, { retryable: false });
    const code = e.code ?? '';
    if (code === 'ETIMEDOUT') return this.error('ETIMEDOUT', e.connect ? `timed out connecting to ${this.base.origin}` : `no answer for ${this.idleMs / 1000} s`, what, { retryable: true });
    if (code === 'ECONNREFUSED') return this.error('ECONNREFUSED', `connection refused by ${this.base.origin}`, what, { retryable: true });
    if (code === 'ENOTFOUND') return this.error('EDNS', `registry host not found (DNS): ${this.base.origin}`, what, { retryable: false });
    if (code === 'ECONNRESET' || code === 'EPIPE') return this.error('ECONNRESET', 'connection reset before the answer', what, { retryable: true });
    if (/^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_)/.test(code) || code === 'EPROTO') {
      return this.error('ETLS', `TLS problem with ${this.base.origin} (${code})`, what, {
        retryable: false,
        hint: 'Trust the registry CA with NODE_EXTRA_CA_CERTS; a registry that speaks plain http needs `insecure: true` on the source.',
      });
    }
    return this.error('ENETWORK', `network error${code ? ` (${code})` : ''}`, what, { retryable: true });
  }

  /**
   * `path` below /v2/ (or an absolute URL from a Location header) with auth and retries. Resolves
   * with the response (body unread) when `accept(status)`; other answers become SourceErrors.
   */
  async request(pathOrUrl: string | URL, what: string, o: RequestOptions = {}): Promise<RegistryResponse> {
    const url = pathOrUrl instanceof URL ? pathOrUrl : new URL(`/v2/${pathOrUrl}`, this.base);
    const method = o.method ?? 'GET';
    const actions = o.actions ?? 'pull';
    const accept = o.accept ?? ((s: number) => s >= 200 && s < 300);
    let answered = false;
    for (let attempt = 0; ; attempt++) {
      let failure: SourceError;
      let retryAfter: string | undefined;
      try {
        // credentials go to the registry's own origin only (an upload location may be elsewhere)
        const auth = url.origin === this.base.origin ? await this.authHeader(actions) : undefined;
        const headers: Record<string, string> = { 'user-agent': 'modelmount', 'accept-encoding': 'identity', ...o.headers, ...(auth ? { authorization: auth } : {}) };
        const res = await this.once(url, method, headers, o.body, o.signal, what);
        if (res.status === 401 && !answered) {
          res.body.destroy();
          answered = true;
          if (await this.answer(parseChallenge(header(res.headers, 'www-authenticate')), actions, what, o.signal)) {
            attempt--;
            continue;
          }
          throw this.statusError(401, what, '');
        }
        if (accept(res.status)) return res;
        const text = res.status >= 400 ? await readText(res.body).catch(() => '') : (res.body.destroy(), '');
        retryAfter = header(res.headers, 'retry-after');
        failure = this.statusError(res.status, what, text);
      } catch (err) {
        if (!(err instanceof SourceError)) throw err;
        failure = err;
      }
      if (!failure.retryable || attempt >= this.retry.limit || o.signal?.aborted) {
        if (attempt > 0 && failure.retryable) throw gaveUp(failure, attempt + 1);
        throw failure;
      }
      await this.clock.sleep(retryDelayMs(attempt + 1, retryAfter, this.retry, this.clock.now()), o.signal);
    }
  }

  /** 401/403/404/… with the registry's error code (MANIFEST_UNKNOWN, BLOB_UNKNOWN, DENIED, …) when it sent one. */
  statusError(status: number, what: string, text: string): SourceError {
    let regCode = '';
    try {
      regCode = (JSON.parse(text) as { errors?: { code?: string }[] }).errors?.[0]?.code ?? '';
    } catch {
      // not the registry's JSON
    }
    const label = `HTTP ${status}${regCode ? ` ${regCode}` : ''}`;
    if (status === 401 || status === 403) {
      return this.error('EAUTH', label, what, {
        retryable: false,
        status,
        hint: `Log in with \`docker login ${this.target.registry}\` (or \`oras login\`) as a user that may pull ${this.target.repository}; modelmount reads ~/.docker/config.json and its credential helpers.`,
      });
    }
    if (status === 404) return this.error('EMISSING', label, what, { retryable: false, status });
    return this.error('EHTTP', label, what, { retryable: status >= 500 || status === 429 || status === 408, status });
  }
}
