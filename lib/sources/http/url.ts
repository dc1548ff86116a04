/** URLs of an HTTP source: a file's URL under the base, and what counts as loopback. */
import net from 'node:net';

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
