import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { $ } from 'zx';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Debian's nginx serving `www` on a free loopback port (sendfile on), in the network namespace `netns` if given. */
export async function startNginx(dir: string, www: string, netns?: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const inNs = netns ? ['ip', 'netns', 'exec', netns] : [];
  const conf = path.join(dir, 'nginx.conf');
  const tmp = path.join(dir, 'nginx-tmp');
  await fsp.mkdir(tmp, { recursive: true });
  await fsp.writeFile(
    conf,
    `# written by bench/nginx.ts
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30;
  gzip off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  types { }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${www};
  }
}
`,
  );
  await $`${inNs} nginx -c ${conf} -e ${dir}/nginx-error.log`;
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 50; i++) {
    const ok = netns
      ? (await $({ nothrow: true })`${inNs} bash -c ${`exec 3<>/dev/tcp/127.0.0.1/${port}`}`).exitCode === 0
      : await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  let stopped = false;
  return {
    url,
    async stop() {
      if (stopped) return;
      stopped = true;
      await $({ nothrow: true })`${inNs} nginx -c ${conf} -e ${dir}/nginx-error.log -s quit`;
      for (let i = 0; i < 50 && fs.existsSync(path.join(dir, 'nginx.pid')); i++) await new Promise((r) => setTimeout(r, 100));
    },
  };
}
