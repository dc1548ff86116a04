/**
 * The agents every network source connects through (http via got, s3 via the AWS SDK, oci via
 * node:http). They decide per request, from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (proxy-env.ts),
 * so a redirect to another host gets its own answer: direct, through Node's keep-alive agent, or
 * through the proxy with the proxy-agents library (https-proxy-agent: a CONNECT tunnel, TLS end to
 * end; http-proxy-agent: absolute-form forwarding).
 *
 * What this adds to the library: a deadline for reaching the proxy and opening the tunnel (the
 * library has none: a proxy that accepts and never answers would hang the run), and failures that
 * name the proxy (EPROXY) without its credentials.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Agent, type AgentConnectOpts } from 'agent-base';
import type { HttpProxyAgent } from 'http-proxy-agent';
import { SourceError } from '../../errors.ts';
import { importDependency } from '../../import-dependency.ts';
import { redactText, redactUrl } from '../../redact.ts';
import { seconds } from '../../stall.ts';
import { sanitisedCause } from './errors.ts';
import { proxyForUrl } from './proxy-env.ts';

const CHECK_PROXY = 'Check HTTPS_PROXY / HTTP_PROXY (http://host:port of a proxy that is up), or add the host to NO_PROXY to go direct.';

export interface ProxyAgents {
  http: http.Agent;
  https: https.Agent;
}

/** One agent per scheme, for got's `agent`, the AWS SDK's httpAgent/httpsAgent, or node:http. */
export function createProxyAgents(env: NodeJS.ProcessEnv, connectMs: number): ProxyAgents {
  return {
    http: new ProxyChooser(false, env, connectMs),
    https: new ProxyChooser(true, env, connectMs) as unknown as https.Agent,
  };
}

function targetUrl(protocol: 'http:' | 'https:', host: string, port: number | string | undefined): URL {
  const h = net.isIPv6(host) ? `[${host}]` : host;
  return new URL(`${protocol}//${h}${port ? `:${port}` : ''}/`);
}

class ProxyChooser extends Agent {
  private readonly direct: http.Agent;

  constructor(
    private readonly secure: boolean,
    private readonly env: NodeJS.ProcessEnv,
    private readonly connectMs: number,
  ) {
    // keepAlive here decides what a request asks for (Node sends `Connection: close` through an
    // agent without it), so it is on for both schemes: direct connections are then kept in
    // `direct`'s pool (with plain http off, every ranged piece paid a new TCP connection and its
    // slow start, bench case 7). Tunnelled TLS connections are kept in this pool, one per origin
    // like direct ones. Forwarded plain-http requests are not (keepSocketAlive): each must be
    // rewritten for the proxy, which a reused socket skips.
    // maxSockets stays Infinity (Node's default) for keepSocketAlive's sake: see there.
    super({ keepAlive: true, scheduling: 'lifo' });
    const keep = { keepAlive: true, scheduling: 'lifo' } as const;
    this.direct = secure ? new https.Agent(keep) : new http.Agent(keep);
  }

  /**
   * The sockets this pool holds are proxy connections: tunnels (https) are reused, forwarding ones (http) are not.
   * Safe only while maxSockets is Infinity: with a limit, Node queues the requests over it and hands
   * a freed socket straight to the next one for the same host, asking neither keepSocketAlive nor
   * connect(), so a queued plain-http request would go out on a forwarding socket without the
   * proxy's rewrite (test/http-source.test.ts, "forwards concurrent plain http requests").
   */
  override keepSocketAlive(socket: Duplex): boolean {
    return this.secure && Boolean(super.keepSocketAlive(socket)); // Node's answers whether it kept it (typed void)
  }

  /** One chooser per scheme: no guessing from the options (the AWS SDK does not pass `protocol`). */
  override isSecureEndpoint(): boolean {
    return this.secure;
  }

  async connect(req: http.ClientRequest, opts: AgentConnectOpts): Promise<Duplex | http.Agent> {
    const host = opts.host ?? 'localhost';
    const proxy = proxyForUrl(targetUrl(this.secure ? 'https:' : 'http:', host, opts.port), this.env);
    if (!proxy) return this.direct;
    const name = redactUrl(proxy.href);
    const secrets = [proxy.password, proxy.password ? decodeURIComponent(proxy.password) : ''].filter((s) => s !== '');
    const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${opts.port}`;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.connectMs);
    const tunnelOpts = { signal: deadline.signal, keepAlive: this.secure };
    // loaded when a request goes through a proxy: a run without one never evaluates them (nor `debug`)
    const tunnel = this.secure
      ? new (await importDependency('https-proxy-agent', () => import('https-proxy-agent'))).HttpsProxyAgent(proxy, tunnelOpts)
      : new (await importDependency('http-proxy-agent', () => import('http-proxy-agent'))).HttpProxyAgent(proxy, tunnelOpts);
    let status = 200;
    tunnel.once('proxyConnect', (answer: { statusCode?: number }) => {
      status = answer.statusCode ?? 200;
    });
    try {
      const socket = await tunnel.connect(req as Parameters<HttpProxyAgent<string>['connect']>[0], opts);
      if (status !== 200) {
        // the library would replay the proxy's answer as if the server had sent it
        socket.destroy();
        const reason = `HTTP ${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
        throw new SourceError('EPROXY', `proxy ${name} refused the tunnel to ${authority}: ${reason}`, {
          retryable: status >= 500 || status === 429,
          hint: status === 407 ? 'The proxy wants credentials: put them in the proxy URL (http://user:password@proxy:port).' : CHECK_PROXY,
        });
      }
      return socket;
    } catch (err) {
      if (err instanceof SourceError) throw err;
      if (deadline.signal.aborted) {
        const what = this.secure ? `did not open a tunnel to ${authority}` : 'could not be reached';
        throw new SourceError('EPROXY', `proxy ${name} ${what} within ${seconds(this.connectMs)}`, { retryable: true, hint: CHECK_PROXY });
      }
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ECONNREFUSED' ? 'connection refused' : redactText(e.code ?? e.message, secrets);
      throw new SourceError('EPROXY', `cannot reach proxy ${name}: ${why}`, { retryable: true, hint: CHECK_PROXY, cause: sanitisedCause(err, secrets) });
    } finally {
      clearTimeout(timer);
    }
  }
}
