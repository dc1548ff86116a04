/**
 * A small static file server for the demo: GET/HEAD with single Range support,
 * loopback only. (Tests use their own fault-injecting server; benchmarks nginx.)
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface StaticServer {
  url: string;
  requests: number;
  close(): Promise<void>;
}

export async function startStaticServer(root: string, port = 0, host = '127.0.0.1'): Promise<StaticServer> {
  const state = { requests: 0 };
  const server = http.createServer(async (req, res) => {
    state.requests++;
    try {
      const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
      const file = path.resolve(root, rel);
      if (!file.startsWith(path.resolve(root) + path.sep)) throw Object.assign(new Error('outside'), { code: 'ENOENT' });
      const st = await fs.stat(file);
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      if (start > st.size) {
        res.writeHead(416, { 'Content-Range': `bytes */${st.size}` }).end();
        return;
      }
      res.writeHead(m ? 206 : 200, {
        'Content-Length': st.size - start,
        'Accept-Ranges': 'bytes',
        'Content-Type': 'application/octet-stream',
        ...(m ? { 'Content-Range': `bytes ${start}-${st.size - 1}/${st.size}` } : {}),
      });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(file, { start }).on('error', () => res.destroy()).pipe(res);
    } catch {
      res.writeHead(404).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host}:${addr.port}/`,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
