/**
 * Agents that decide per connection, from the environment, whether to go direct or through an
 * http:// proxy: CONNECT tunnel for https targets, absolute-form forwarding for http.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { SourceError } from '../../errors.ts';
import { redactText, redactUrl } from '../../redact.ts';
import { seconds } from '../../stall.ts';
import { sanitisedCause } from './errors.ts';
import { proxyForUrl } from './proxy-env.ts';

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

export class ProxyAwareHttpsAgent extends https.Agent {
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

export class ProxyAwareHttpAgent extends http.Agent {
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
