/**
 * A real OCI registry for the tests: Debian's docker-registry (distribution 2.8) on a free loopback
 * port with filesystem storage in a temp folder, stopped in afterAll. `startAuthGateway` puts a
 * Docker-style auth front in front of it (Bearer token flow or Basic), so the auth code talks to
 * the same challenges a hosted registry sends.
 *
 * Without the package the OCI tests are skipped with a message; with MODELMOUNT_REQUIRE_OCI=1
 * (set by .ci/run, which installs it) they fail instead.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { localRegistryMissing, startLocalRegistry, type LocalRegistry } from '../../lib/demo/registry.ts';
import { describeWithServer } from './describe-server.ts';

export const REQUIRE_OCI_ENV = 'MODELMOUNT_REQUIRE_OCI';

export function registryMissing(): string | undefined {
  return localRegistryMissing() === undefined ? undefined : 'not installed (apt-get install docker-registry)';
}

/** `describe` that needs docker-registry: skipped with a message without it, failed under MODELMOUNT_REQUIRE_OCI=1. */
export function describeOci(name: string, fn: () => void): void {
  describeWithServer('docker-registry', registryMissing(), REQUIRE_OCI_ENV, name, fn);
}

export type Registry = LocalRegistry;

/** A registry with its storage in a fresh temp folder, removed again by stop(). */
export async function startRegistry(): Promise<Registry> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-registry-'));
  const registry = await startLocalRegistry(dir);
  return {
    ...registry,
    stop: async () => {
      await registry.stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export const sha256Digest = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Push with plain fetch (independent of modelmount's client): blobs, then a manifest under `ref`. */
export async function pushArtifact(
  registryUrl: string,
  repo: string,
  ref: string,
  layers: { title: string; data: Buffer; mediaType?: string }[],
  opts: { artifactType?: string; headers?: Record<string, string> } = {},
): Promise<string> {
  const config = Buffer.from('{}');
  const put = async (data: Buffer) => {
    const digest = sha256Digest(data);
    const start = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: opts.headers });
    if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
    const loc = new URL(start.headers.get('location')!, registryUrl);
    loc.searchParams.set('digest', digest);
    const done = await fetch(loc, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream', ...opts.headers } });
    if (done.status !== 201) throw new Error(`upload: ${done.status}`);
    return digest;
  };
  await put(config);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: opts.artifactType ?? 'application/vnd.example.model.v1',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(config), size: 2 },
    layers: [] as unknown[],
  };
  for (const l of layers) {
    const digest = await put(l.data);
    manifest.layers.push({ mediaType: l.mediaType ?? 'application/octet-stream', digest, size: l.data.length, annotations: { 'org.opencontainers.image.title': l.title } });
  }
  const body = Buffer.from(JSON.stringify(manifest));
  const r = await fetch(`${registryUrl}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    body,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', ...opts.headers },
  });
  if (r.status !== 201) throw new Error(`manifest put: ${r.status} ${await r.text()}`);
  return sha256Digest(body);
}

export interface AuthGateway {
  host: string;
  url: string;
  /** every request the gateway saw: method, path, the auth scheme used (never the secret) */
  seen: { method: string; path: string; auth: string; range?: string }[];
  tokensIssued: number;
  close(): Promise<void>;
}

/**
 * An auth front for `upstream`: "bearer" answers 401 with `WWW-Authenticate: Bearer realm=<own
 * /token>` and issues tokens for user:password; "basic" wants Basic user:password on every request.
 * With cutBlobAfter, the first blob GET is cut after that many bytes (a dropped connection).
 */
export async function startAuthGateway(
  upstream: string,
  opts: {
    mode: 'bearer' | 'basic';
    user: string;
    password: string;
    cutBlobAfter?: number;
    /** a token is good for this many requests (expiry) */
    tokenUses?: number;
    /** answer blob GETs with 307 to this origin + the same path (object storage behind a registry) */
    redirectBlobsTo?: string;
  },
): Promise<AuthGateway> {
  const up = new URL(upstream);
  const tokens = new Map<string, number>();
  const seen: AuthGateway['seen'] = [];
  let cut = opts.cutBlobAfter !== undefined;
  const basicOk = (h: string | undefined) => h === `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;
  const gw: AuthGateway = { host: '', url: '', seen, tokensIssued: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization;
    seen.push({ method: req.method ?? '', path: req.url ?? '', auth: auth?.split(' ')[0] ?? 'none', ...(req.headers.range ? { range: req.headers.range } : {}) });
    const u = new URL(req.url ?? '/', 'http://x');
    if (opts.mode === 'bearer' && u.pathname === '/token') {
      if (!basicOk(auth)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad login"}');
        return;
      }
      const t = randomBytes(24).toString('hex');
      tokens.set(t, opts.tokenUses ?? Infinity);
      gw.tokensIssued++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: t, expires_in: 300 }));
      return;
    }
    const uses = auth?.startsWith('Bearer ') ? tokens.get(auth.slice(7)) : undefined;
    if (uses !== undefined) tokens.set(auth!.slice(7), uses - 1);
    const allowed = opts.mode === 'basic' ? basicOk(auth) : uses !== undefined && uses > 0;
    if (!allowed) {
      const challenge =
        opts.mode === 'basic'
          ? 'Basic realm="test"'
          : `Bearer realm="http://${req.headers.host}/token",service="test-registry",scope="repository:${u.pathname.split('/').slice(2, -2).join('/')}:pull"`;
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (opts.redirectBlobsTo && req.method === 'GET' && /\/blobs\/sha256:/.test(u.pathname)) {
      res.writeHead(307, { location: `${opts.redirectBlobsTo}${req.url}` }).end();
      return;
    }
    // the Host header stays the gateway's: the registry builds upload locations from it
    const headers = { ...req.headers };
    delete headers.authorization;
    const fwd = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      if (cut && req.method === 'GET' && /\/blobs\/sha256:/.test(u.pathname) && r.statusCode === 200) {
        cut = false;
        let sent = 0;
        r.on('data', (c: Buffer) => {
          if (sent >= opts.cutBlobAfter!) return;
          if (sent + c.length >= opts.cutBlobAfter!) {
            res.write(c.subarray(0, opts.cutBlobAfter! - sent));
            sent = opts.cutBlobAfter!;
            r.destroy();
            // the client has consumed what it got by then: the cut lands mid-transfer, not before it
            setTimeout(() => res.socket?.destroy(), 300);
            return;
          }
          sent += c.length;
          res.write(c);
        });
        return;
      }
      r.pipe(res);
    });
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  gw.host = `127.0.0.1:${port}`;
  gw.url = `http://127.0.0.1:${port}`;
  gw.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return gw;
}
