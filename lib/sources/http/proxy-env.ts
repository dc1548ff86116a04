/**
 * Which proxy a request goes through, from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (curl's rules,
 * CIDR blocks included). Decided per request, so a redirect to another host gets its own answer.
 */
import net from 'node:net';
import { SourceError } from '../../errors.ts';
import { redactUrl } from '../../redact.ts';
import { isLoopbackHost } from './url.ts';

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
  const names = target.protocol === 'https:' ? (['https_proxy', 'HTTPS_PROXY'] as const) : target.protocol === 'http:' ? (['http_proxy', 'HTTP_PROXY'] as const) : [];
  const name = names.find((n) => env[n]);
  const raw = name && env[name];
  if (!raw) return undefined;
  if (matchesNoProxy(target, env.no_proxy || env.NO_PROXY || '')) return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let proxy: URL | undefined;
  try {
    proxy = new URL(withScheme);
  } catch {
    // not a URL: refused below
  }
  // A value that is not a URL, or one with a path, query or fragment (http://u:123/secret@host
  // parses as host u with a path): never echoed, it may hold a password a parser cannot find.
  if (!proxy || (proxy.pathname !== '/' && proxy.pathname !== '') || proxy.search || proxy.hash) {
    throw new SourceError('EPROXY', `${name} is not a proxy URL of the form http://[user:password@]host:port (its value is not shown: it may hold a password)`, {
      retryable: false,
      hint: `Set ${name} to http://host:port (or unset it).`,
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
