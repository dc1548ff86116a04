/**
 * A loopback file server with scripted faults, for every test that talks HTTP.
 *
 *   const server = await startFaultServer({ files: { '/a/b.bin': bytes } });
 *   server.fault('/a/b.bin', { status: 503, headers: { 'retry-after': '0' } });   // next request only
 *   server.fault('/a/b.bin', { cutAfter: 100, cutMode: 'rst' }, 2);               // the two after that
 *   … server.requests …  (method, path, headers incl. range/authorization)
 *   await server.close();
 *
 * Or `await withServer(files, async (server) => { … })`, which always closes.
 *
 * Files are served like a static server that honours one `bytes=a-` / `bytes=a-b`
 * range (206 + Content-Range, 416 past the end). Faults are queued per path and
 * consumed one per request, in order; a path with no queued fault behaves normally.
 * `startTestProxy()` is a tiny forward/CONNECT proxy that counts what it carried.
 */
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { gzipSync } from 'node:zlib';

/** Self-signed test certificate (EC P-256, valid 2000–2999) for localhost, 127.0.0.1, ::1, models.test, mirror.test. */
export const TEST_TLS = {
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgedRM/VfS6uV+ajaN
5WLPTmcEcesVxuujHyJF+ebHGGChRANCAAQvSmbYh4tzRc6N8xnN9rvq11j7GbKM
YyMrkCK0f0x9LsehPhogUQXvzU7J1sNPDmzr7rCbzTM1UvAQtO/ZR7nR
-----END PRIVATE KEY-----
`,
  cert: `-----BEGIN CERTIFICATE-----
MIIBpDCCAUmgAwIBAgIURyhMeAczOt10gQxLj3O9Zf4YQz4wCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPbW9kZWxtb3VudCB0ZXN0MCAXDTAwMDEwMTAwMDAwMFoYDzI5
OTkxMjMxMDAwMDAwWjAaMRgwFgYDVQQDDA9tb2RlbG1vdW50IHRlc3QwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQvSmbYh4tzRc6N8xnN9rvq11j7GbKMYyMrkCK0
f0x9LsehPhogUQXvzU7J1sNPDmzr7rCbzTM1UvAQtO/ZR7nRo2swaTBGBgNVHREE
PzA9gglsb2NhbGhvc3SCC21vZGVscy50ZXN0ggttaXJyb3IudGVzdIcEfwAAAYcQ
AAAAAAAAAAAAAAAAAAAAATAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIC
hDAKBggqhkjOPQQDAgNJADBGAiEA8zmhbi7lG8ebng9MX/BsqvTbgEUFmb9xBvxU
dAYPZFsCIQDPoNGRUTrDC3dxJuVoX0sGIy2fr1TqpLe2uWvoOWlajg==
-----END CERTIFICATE-----
`,
};

/** One scripted misbehaviour for one request. Fields combine where that makes sense. */
export interface Fault {
  /** Answer with this status (and `body`, `headers`) instead of the file. */
  status?: number;
  /** Extra or overriding response headers (also applied to file responses). */
  headers?: Record<string, string | number>;
  /** Body for a `status` answer. */
  body?: string | Buffer;
  /** Redirect (302 unless `status` says otherwise) to this Location, relative or absolute. */
  redirect?: string;
  /** Send 200 with the whole file although a Range was asked for. */
  ignoreRange?: boolean;
  /** Send 206 with a Content-Range (and body) starting this many bytes off the requested start. */
  rangeStartShift?: number;
  /** Answer 416 to any Range request. */
  rangeNotSatisfiable?: boolean;
  /** Announce this Content-Length instead of the real one. */
  contentLength?: number;
  /** Gzip the body and say `Content-Encoding: gzip`. */
  gzip?: boolean;
  /** Flip the bits of the file bytes at these offsets (of the whole file). */
  corrupt?: number[];
  /** Wait this long before sending the status line (Infinity: until the client gives up). */
  stallBeforeHeadersMs?: number;
  /** After `stallAfter` body bytes, pause `stallMs` (Infinity: forever) before sending the rest. */
  stallAfter?: number;
  stallMs?: number;
  /** Send the body in chunks of `dripBytes` every `dripIntervalMs`. */
  dripBytes?: number;
  dripIntervalMs?: number;
  /** Stop after this many body bytes: `fin` closes gracefully, `rst` resets the TCP connection. */
  cutAfter?: number;
  cutMode?: 'fin' | 'rst';
  /** Reset the connection without answering at all. */
  resetBeforeHeaders?: boolean;
  /** Escape hatch: answer the request yourself. */
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

export interface RecordedRequest {
  method: string;
  /** raw request target, e.g. "/a/b.bin?x=1" (absolute-form when sent to a proxy) */
  url: string;
  /** pathname of the request target, still percent-encoded */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** the fault that was applied, if any */
  fault?: Fault;
  /** body bytes handed to the socket so far for this request (file responses) */
  bytesSent?: number;
  /** the client's port: requests with the same one came over the same connection */
  remotePort?: number;
}

export interface FaultServer {
  /** base URL with trailing slash, e.g. http://127.0.0.1:40123/ */
  url: string;
  /** same as url without the trailing slash */
  origin: string;
  port: number;
  requests: RecordedRequest[];
  /** Add or replace a served file. */
  setFile(path: string, data: Buffer | string): void;
  /** Queue `fault` for the next `times` requests to `path` (after the faults already queued). */
  fault(path: string, fault: Fault, times?: number): void;
  /** Replace all queued faults: path → list consumed in order. */
  setFaults(faults: Record<string, Fault[]>): void;
  /** Requests to one path (decoded or encoded form). */
  requestsTo(path: string): RecordedRequest[];
  close(): Promise<void>;
}

export interface FaultServerOptions {
  files?: Record<string, Buffer | string>;
  /**
   * Serve HTTPS with TEST_TLS. `'both'`: HTTPS and plain HTTP on the same port (the first byte
   * decides), so a test can redirect https://127.0.0.1:P/ → http://127.0.0.1:P/ (same host and port).
   */
  tls?: boolean | 'both';
  /** Listen address; default 127.0.0.1. */
  host?: string;
}

function normPath(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'invalid';
  return { start, end };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** TCP RST. For TLS the reset goes to the TCP socket underneath. */
function resetSocket(socket: net.Socket | null): void {
  const raw = (socket as (net.Socket & { _parent?: net.Socket }) | null)?._parent ?? socket;
  try {
    raw?.resetAndDestroy();
  } catch {
    raw?.destroy();
  }
}

function drainOrClose(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export async function startFaultServer(options: FaultServerOptions = {}): Promise<FaultServer> {
  const files = new Map<string, Buffer>();
  for (const [p, data] of Object.entries(options.files ?? {})) files.set(normPath(p), Buffer.from(data));
  const queues = new Map<string, Fault[]>();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<net.Socket>();
  let closing = false;

  const takeFault = (path: string): Fault | undefined => {
    const q = queues.get(normPath(path));
    return q?.shift();
  };

  async function writeBody(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, f: Fault, record: RecordedRequest): Promise<void> {
    // A request that arrived on a keep-alive connection before the previous response there had
    // ended (the client had all its bytes, the drip had not called end() yet) gets its socket
    // only when that response ends: wait for it, or this response would never be sent.
    if (res.socket === null && !res.destroyed) await Promise.race([once(res, 'socket'), once(res, 'close')]);
    const socket = res.socket;
    const alive = () => !closing && !res.destroyed && socket !== null && !socket.destroyed;
    let limit = body.length;
    if (f.cutAfter !== undefined) limit = Math.min(limit, f.cutAfter);
    let sent = 0;
    const chunk = f.dripBytes ?? 64 * 1024;
    while (sent < limit && alive()) {
      if (f.stallAfter !== undefined && sent === Math.min(f.stallAfter, limit) && f.stallMs !== undefined) {
        if (f.stallMs === Infinity) {
          await once(res, 'close');
          return;
        }
        await sleep(f.stallMs);
        if (!alive()) return;
      }
      let n = Math.min(chunk, limit - sent);
      if (f.stallAfter !== undefined && sent < f.stallAfter) n = Math.min(n, f.stallAfter - sent);
      const ok = res.write(body.subarray(sent, sent + n));
      sent += n;
      record.bytesSent = sent;
      if (f.dripIntervalMs !== undefined) await sleep(f.dripIntervalMs);
      else if (!ok) await drainOrClose(res);
    }
    if (!alive()) return;
    if (f.cutAfter !== undefined) {
      // Make sure what was written reaches the client before the connection goes away.
      await new Promise<void>((resolve) => res.write('', () => resolve()));
      await sleep(20);
      if (f.cutMode === 'rst') resetSocket(socket);
      else socket?.end();
      return;
    }
    res.end();
    void req;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const path = rawUrl.startsWith('/') ? rawUrl.replace(/[?#].*$/s, '') : new URL(rawUrl).pathname;
    const f = takeFault(path) ?? {};
    const record: RecordedRequest = { method: req.method ?? 'GET', url: rawUrl, path, headers: req.headers, remotePort: req.socket.remotePort, ...(Object.keys(f).length ? { fault: f } : {}) };
    requests.push(record);

    if (f.resetBeforeHeaders) {
      resetSocket(req.socket);
      return;
    }
    if (f.stallBeforeHeadersMs !== undefined) {
      if (f.stallBeforeHeadersMs === Infinity) {
        await once(res, 'close');
        return;
      }
      await sleep(f.stallBeforeHeadersMs);
      if (res.destroyed) return;
    }
    if (f.handler) {
      f.handler(req, res);
      return;
    }
    const extra = f.headers ?? {};
    if (f.redirect !== undefined) {
      res.writeHead(f.status ?? 302, { location: f.redirect, 'content-length': 0, ...extra });
      res.end();
      return;
    }
    if (f.status !== undefined) {
      const body = Buffer.from(f.body ?? `${f.status} ${http.STATUS_CODES[f.status] ?? ''}\n`);
      res.writeHead(f.status, { 'content-type': 'text/plain', 'content-length': body.length, ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }

    const file = files.get(normPath(path));
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10, ...extra });
      res.end(req.method === 'HEAD' ? undefined : 'not found\n');
      return;
    }
    let data = file;
    if (f.corrupt?.length) {
      data = Buffer.from(file);
      for (const i of f.corrupt) if (i < data.length) data[i] = (data[i] ?? 0) ^ 0xff;
    }

    let status = 200;
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    const rangeHeader = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    // RFC 9110 If-Range: the range only applies while the validator still matches (here: the ETag this answer carries)
    const ifRange = typeof req.headers['if-range'] === 'string' ? req.headers['if-range'] : undefined;
    const rangeStale = ifRange !== undefined && ifRange !== String(extra.etag ?? extra.ETag ?? '');
    const range = f.ignoreRange || rangeStale ? undefined : parseRange(rangeHeader, data.length);
    let body = data;
    if (rangeHeader !== undefined && !f.ignoreRange && !rangeStale && (f.rangeNotSatisfiable || range === 'invalid')) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}`, 'content-length': 0, ...extra });
      res.end();
      return;
    }
    if (range && range !== 'invalid') {
      const start = Math.max(0, Math.min(data.length - 1, range.start + (f.rangeStartShift ?? 0)));
      status = 206;
      body = data.subarray(start, range.end + 1);
      headers['content-range'] = `bytes ${start}-${range.end}/${data.length}`;
    }
    if (f.gzip) {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = f.contentLength ?? body.length;
    res.writeHead(status, { ...headers, ...extra });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    record.bytesSent = 0;
    await writeBody(req, res, body, f, record);
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  };
  const trackSocket = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const plain = http.createServer(listener);
  const secure = options.tls ? https.createServer({ key: TEST_TLS.key, cert: TEST_TLS.cert }, listener) : undefined;
  for (const s of [plain, secure]) {
    // A client that resets mid-response must not crash the test run.
    s?.on('clientError', (_err, socket: net.Socket) => socket.destroy());
  }
  // One TCP listener; each connection goes to the HTTPS or the HTTP server.
  const server = net.createServer((socket) => {
    trackSocket(socket);
    if (options.tls !== 'both') {
      (secure ?? plain).emit('connection', socket);
      return;
    }
    socket.once('data', (first: Buffer) => {
      socket.pause();
      if (first[0] !== 0x16 || !secure) {
        socket.unshift(first);
        plain.emit('connection', socket);
        socket.resume();
        return;
      }
      // TLS reads the TCP handle directly and would miss the byte we already took:
      // hand it a JS stream that replays it (Node wraps such streams itself).
      const replay = new Duplex({
        read() {
          socket.resume();
        },
        write(chunk: Buffer, _enc, cb) {
          socket.write(chunk, cb);
        },
        final(cb) {
          socket.end(cb);
        },
        destroy(err, cb) {
          socket.destroy(err ?? undefined);
          cb(err);
        },
      });
      replay.push(first);
      socket.on('data', (d: Buffer) => {
        if (!replay.push(d)) socket.pause();
      });
      socket.on('end', () => replay.push(null));
      socket.on('close', () => replay.destroy());
      socket.on('error', (err) => replay.destroy(err));
      secure.emit('connection', replay);
      socket.resume();
    });
  });
  server.listen(0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const origin = `${options.tls ? 'https' : 'http'}://${hostPart}:${port}`;

  return {
    url: `${origin}/`,
    origin,
    port,
    requests,
    setFile(path, data) {
      files.set(normPath(path), Buffer.from(data));
    },
    fault(path, fault, times = 1) {
      const key = normPath(path);
      const q = queues.get(key) ?? [];
      for (let i = 0; i < times; i++) q.push(fault);
      queues.set(key, q);
    },
    setFaults(faults) {
      queues.clear();
      for (const [p, list] of Object.entries(faults)) queues.set(normPath(p), [...list]);
    },
    requestsTo(path) {
      const key = normPath(path);
      return requests.filter((r) => normPath(r.path) === key);
    },
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      plain.closeAllConnections();
      secure?.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** Start a fault server, run `fn`, always close. */
export async function withServer<T>(
  files: Record<string, Buffer | string>,
  fn: (server: FaultServer) => Promise<T>,
  options: Omit<FaultServerOptions, 'files'> = {},
): Promise<T> {
  const server = await startFaultServer({ ...options, files });
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

export interface TestProxy {
  /** e.g. http://127.0.0.1:40124 */
  url: string;
  port: number;
  /** CONNECT targets ("host:port") in order */
  connects: string[];
  /** absolute-form request targets forwarded in order */
  forwards: string[];
  /** Proxy-Authorization headers seen (CONNECT and forward) */
  proxyAuthorizations: string[];
  close(): Promise<void>;
}

/**
 * A tiny HTTP proxy: CONNECT tunnels and absolute-form forwarding. Every target host is
 * connected on `resolveTo` (default 127.0.0.1), so tests can use names like models.test
 * that only the proxy "resolves".
 */
export async function startTestProxy(options: { resolveTo?: string; connectStatus?: number } = {}): Promise<TestProxy> {
  const resolveTo = options.resolveTo ?? '127.0.0.1';
  const connects: string[] = [];
  const forwards: string[] = [];
  const proxyAuthorizations: string[] = [];
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const server = http.createServer((req, res) => {
    forwards.push(req.url ?? '');
    if (req.headers['proxy-authorization']) proxyAuthorizations.push(String(req.headers['proxy-authorization']));
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = http.request(
      { host: resolveTo, port: Number(target.port) || 80, method: req.method, path: `${target.pathname}${target.search}`, headers, agent: false },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('error', () => res.destroy());
        up.on('aborted', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', track);
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    connects.push(req.url ?? '');
    if (req.headers['proxy-authorization']) proxyAuthorizations.push(String(req.headers['proxy-authorization']));
    if (options.connectStatus !== undefined && options.connectStatus !== 200) {
      client.end(`HTTP/1.1 ${options.connectStatus} ${http.STATUS_CODES[options.connectStatus] ?? ''}\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const port = Number((req.url ?? '').split(':').pop());
    const upstream = net.connect({ host: resolveTo, port }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connects,
    forwards,
    proxyAuthorizations,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
