/**
 * `npm run bench`: modelmount against the tools a user would otherwise script —
 * curl, curl | tee | sha256sum, aria2c, cp + sha256sum, sha256sum -c — on one
 * generated data set, served by Debian's nginx on loopback (sendfile on).
 *
 *   npm run bench                      # 2 GiB + 8 × 128 MiB, 5 rounds, writes bench/RESULTS.md
 *   npm run bench -- --quick           # 256 MiB + 8 × 16 MiB, 3 rounds, prints only
 *   npm run bench -- --big 1G --small 64M --count 8 --rounds 3 --dir /var/tmp/mmbench --keep
 *   npm run bench -- --cases 1,4 --modelmount /path/to/other/checkout/bin/modelmount.mjs
 *   npm run bench -- --baseline /path/to/older/checkout/bin/modelmount.mjs   # before/after in the same rounds
 *   npm run bench -- --cases 7,8 --link-big 512M                 # only the 40 ms link cases
 *   npm run bench -- --cases 1,15 --out ''                       # the seed's size (5.5 GiB) and case 1's RSS beside it
 *   npm run bench -- --cases 1,15 --seed-big 512M --seed-small 64M --rounds 2   # the same at a reduced size
 *
 * Cases: 1 one big file over HTTP, 2 the file set over HTTP, 3 copy from a folder, 4 verify --full,
 * 5 no-op update, (6 RSS of case 1), 7 one file over a 40 ms link, 8 the set over a 40 ms link,
 * 9 verify --full against openssl on every core, 10 start-up against \`node -e 0\`, 11–14 many files
 * (20,000 files of 1–64 KiB + 20 × 100 MiB shards; --quick: 2,000 + 4 × 8 MiB): over HTTP against
 * \`aria2c -i list -j16\`, from a folder against \`cp -r\` + sha256sum, no-op update, verify,
 * 15 the seed's size (opt-in: \`--cases …,15\`; 2 × 2 GiB + 6 × 256 MiB = 5.5 GiB, --quick: 2 × 256 MiB +
 * 6 × 32 MiB) over HTTP against \`xargs -P<jobs> curl -o\` with modelmount's \`--jobs <jobs>\` (default:
 * modelmount's own default, 1 per core, 2 to 4), and modelmount's peak RSS there against case 1's
 * (flat in the set size: at most 1.2× case 1's, same jobs; ≤ 200 MB when case 1 is not run).
 * Case 15 writes 5.5 GiB per measurement: each contender's output is deleted right after it.
 * 16 start-up of a no-op update of a small set (the installed set of case 4/5) against `node -e 0`.
 *
 * The 40 ms link (cases 7, 8; root only): a network namespace whose loopback has a tbf rate limit
 * (1 Gbit) and an iptables-legacy NFQUEUE rule; a small C program (written and compiled here, on
 * libnetfilter-queue) holds each packet 20 ms before accepting it, so every round trip takes 40 ms
 * (netem is not available on the bench machine). nginx and every contender run inside it.
 *
 * Every flag has an environment twin: BENCH_BIG, BENCH_SMALL, BENCH_COUNT, BENCH_ROUNDS,
 * BENCH_DIR, BENCH_CASES, BENCH_OUT, BENCH_MODELMOUNT, BENCH_BASELINE, BENCH_SEED_BIG, BENCH_SEED_SMALL,
 * BENCH_SEED_COUNT, BENCH_SEED_JOBS.
 *
 * Method (the same for tool and peer): every measurement is a whole process (start-up
 * included) timed from spawn to exit; tool and peer alternate inside each round and swap
 * order every other round; the report gives medians and tool/peer ratios. Outputs of a
 * previous run are deleted and `sync` runs before each measurement, so nobody pays for
 * someone else's dirty pages. Page caches are NOT dropped: the served/copied/verified data
 * is read once before each case so both sides read it from memory (a loopback benchmark
 * measures the tools, not the disk). Needs root for apt-get when tools are missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { $, minimist } from 'zx';

/** everything from this line on in the --out file is kept when the report is regenerated */
const ANALYSIS_MARKER = '<!-- analysis: kept by npm run bench -->';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

// ───────────────────────────── options ─────────────────────────────

function parseSize(v: string | number | undefined, fallback: number): number {
  if (v === undefined || v === '') return fallback;
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new Error(`not a size: ${v} (use e.g. 2G, 128M, 4096)`);
  const mult = { '': 1, k: 1024, m: MiB, g: GiB, t: 1024 * GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

const argv = minimist(process.argv.slice(2), {
  boolean: ['quick', 'keep', 'help'],
  string: ['big', 'small', 'count', 'rounds', 'dir', 'cases', 'out', 'modelmount', 'baseline', 'label', 'link-big', 'many-count', 'many-shards', 'many-shard-size', 'seed-big', 'seed-small', 'seed-count', 'seed-jobs'],
});
if (argv.help) {
  process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, ''));
  process.exit(0);
}
const env = process.env;
const quick = Boolean(argv.quick);
const opts = {
  big: parseSize(argv.big ?? env.BENCH_BIG, quick ? 256 * MiB : 2 * GiB),
  small: parseSize(argv.small ?? env.BENCH_SMALL, quick ? 16 * MiB : 128 * MiB),
  count: Number(argv.count ?? env.BENCH_COUNT ?? 8),
  /** the file of case 7 (a 40 ms link is slow: smaller than --big by default) */
  manyCount: Number(argv['many-count'] ?? env.BENCH_MANY_COUNT ?? (quick ? 2000 : 20000)),
  manyShards: Number(argv['many-shards'] ?? env.BENCH_MANY_SHARDS ?? (quick ? 4 : 20)),
  manyShardSize: parseSize(argv['many-shard-size'] ?? env.BENCH_MANY_SHARD_SIZE, quick ? 8 * MiB : 100 * MiB),
  linkBig: parseSize(argv['link-big'] ?? env.BENCH_LINK_BIG, quick ? 64 * MiB : 512 * MiB),
  /** case 15, the seed's size: 2 × seedBig + seedCount × seedSmall, fetched with --jobs seedJobs against xargs -P<seedJobs> curl */
  seedBig: parseSize(argv['seed-big'] ?? env.BENCH_SEED_BIG, quick ? 256 * MiB : 2 * GiB),
  seedSmall: parseSize(argv['seed-small'] ?? env.BENCH_SEED_SMALL, quick ? 32 * MiB : 256 * MiB),
  seedCount: Number(argv['seed-count'] ?? env.BENCH_SEED_COUNT ?? 6),
  /** modelmount's own default (lib/run-context.ts): 1 per core, 2 to 4 */
  seedJobs: Number(argv['seed-jobs'] ?? env.BENCH_SEED_JOBS ?? Math.max(2, Math.min(4, os.availableParallelism()))),
  rounds: Number(argv.rounds ?? env.BENCH_ROUNDS ?? (quick ? 3 : 5)),
  dir: (argv.dir ?? env.BENCH_DIR) as string | undefined,
  cases: new Set(String(argv.cases ?? env.BENCH_CASES ?? '1,2,3,4,5,7,8,9,10,16').split(',').map((s) => s.trim())),
  out: (argv.out ?? env.BENCH_OUT ?? (quick ? '' : path.join(ROOT, 'bench', 'RESULTS.md'))) as string,
  modelmount: path.resolve((argv.modelmount ?? env.BENCH_MODELMOUNT ?? path.join(ROOT, 'bin', 'modelmount.mjs')) as string),
  /** another checkout's bin/modelmount.mjs, measured in the same rounds ("before") */
  baseline: (argv.baseline ?? env.BENCH_BASELINE) ? path.resolve((argv.baseline ?? env.BENCH_BASELINE) as string) : undefined,
  label: (argv.label as string | undefined) ?? '',
  keep: Boolean(argv.keep),
};

$.verbose = false;
$.quiet = true;

const log = (line: string) => process.stderr.write(`${line}\n`);

// ───────────────────────────── tools ─────────────────────────────

async function ensureTools(): Promise<void> {
  const need: Record<string, string> = {
    '/usr/sbin/nginx': 'nginx-light',
    '/usr/bin/aria2c': 'aria2',
    '/usr/bin/curl': 'curl',
    '/usr/bin/sha256sum': 'coreutils',
    '/usr/bin/time': 'time',
    '/usr/bin/openssl': 'openssl',
    ...(opts.cases.has('7') || opts.cases.has('8')
      ? { '/usr/bin/gcc': 'gcc', '/usr/include/libnetfilter_queue/libnetfilter_queue.h': 'libnetfilter-queue-dev', '/usr/sbin/iptables-legacy': 'iptables', '/usr/sbin/tc': 'iproute2' }
      : {}),
  };
  const missing = Object.entries(need).filter(([bin]) => !fs.existsSync(bin)).map(([, pkg]) => pkg);
  if (!missing.length) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}: install them (apt-get install ${missing.join(' ')}) or run as root`);
  log(`▶ apt-get install ${missing.join(' ')}`);
  await $({ env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get update -qq`;
  await $({ env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get install -y -qq --no-install-recommends ${missing}`;
}

async function versions(): Promise<Record<string, string>> {
  const first = async (p: Promise<{ stdout: string; stderr: string }>) => {
    try {
      const r = await p;
      return (r.stdout || r.stderr).split('\n')[0]!.trim();
    } catch (err) {
      return String((err as { stderr?: string }).stderr ?? err).split('\n')[0]!.trim();
    }
  };
  return {
    node: process.version,
    nginx: (await first($`nginx -v`)).replace(/^nginx version: /, ''),
    curl: (await first($`curl --version`)).split(' ').slice(0, 2).join(' '),
    aria2c: await first($`aria2c --version`),
    sha256sum: await first($`sha256sum --version`),
  };
}

// ───────────────────────────── data set ─────────────────────────────

interface DataFile {
  /** artifact id / path, as served: <id>/<path> */
  id: string;
  path: string;
  size: number;
  sha256: string;
}

/** Random bytes, hashed while written; reused when a previous run left the same sizes in --dir. */
async function writeRandomFile(file: string, size: number): Promise<string> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.allocUnsafe(16 * MiB);
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(buf.length, size - done);
      randomFillSync(buf, 0, n);
      hash.update(buf.subarray(0, n));
      for (let w = 0; w < n; ) w += fs.writeSync(fd, buf, w, n - w);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

async function makeDataSet(www: string): Promise<{ big: DataFile; set: DataFile[] }> {
  const metaFile = path.join(www, 'dataset.json');
  const want = { big: opts.big, small: opts.small, count: opts.count };
  try {
    const meta = JSON.parse(await fsp.readFile(metaFile, 'utf8'));
    if (JSON.stringify(meta.want) === JSON.stringify(want)) {
      log(`▶ Reusing the data set in ${www}`);
      return meta.files;
    }
  } catch {
    // none yet
  }
  log(`▶ Generating ${fmtBytes(opts.big)} + ${opts.count} × ${fmtBytes(opts.small)} of random bytes in ${www}`);
  const big: DataFile = { id: 'big', path: 'model.bin', size: opts.big, sha256: '' };
  big.sha256 = await writeRandomFile(path.join(www, big.id, big.path), big.size);
  const set: DataFile[] = [];
  for (let i = 1; i <= opts.count; i++) {
    const f: DataFile = { id: 'set', path: `part-${String(i).padStart(2, '0')}.bin`, size: opts.small, sha256: '' };
    f.sha256 = await writeRandomFile(path.join(www, f.id, f.path), f.size);
    set.push(f);
  }
  await fsp.writeFile(metaFile, JSON.stringify({ want, files: { big, set } }, null, 2));
  return { big, set };
}

/** The file of case 7 (reused when a previous run left the same size in --dir). */
async function linkFile(www: string): Promise<DataFile> {
  const metaFile = path.join(www, 'link.json');
  try {
    const meta = JSON.parse(await fsp.readFile(metaFile, 'utf8')) as DataFile;
    if (meta.size === opts.linkBig && fs.statSync(path.join(www, meta.id, meta.path)).size === meta.size) return meta;
  } catch {
    // none yet
  }
  log(`▶ Generating ${fmtBytes(opts.linkBig)} of random bytes for the link case`);
  const f: DataFile = { id: 'link', path: 'model.bin', size: opts.linkBig, sha256: '' };
  f.sha256 = await writeRandomFile(path.join(www, f.id, f.path), f.size);
  await fsp.writeFile(metaFile, JSON.stringify(f));
  return f;
}

/** Case 15's set: 2 big files and seedCount smaller ones in one artifact; reused when --dir holds the same sizes. */
async function makeSeedSet(www: string): Promise<DataFile[]> {
  const metaFile = path.join(www, 'seed.json');
  const want = { big: opts.seedBig, small: opts.seedSmall, count: opts.seedCount };
  try {
    const meta = JSON.parse(await fsp.readFile(metaFile, 'utf8'));
    if (JSON.stringify(meta.want) === JSON.stringify(want)) return meta.files;
  } catch {
    // none yet
  }
  log(`▶ Generating 2 × ${fmtBytes(opts.seedBig)} + ${opts.seedCount} × ${fmtBytes(opts.seedSmall)} in ${www}/seed`);
  await fsp.rm(path.join(www, 'seed'), { recursive: true, force: true });
  const sizes = [opts.seedBig, opts.seedBig, ...Array.from({ length: opts.seedCount }, () => opts.seedSmall)];
  const files: DataFile[] = [];
  for (const [i, size] of sizes.entries()) {
    const rel = `model-${String(i + 1).padStart(5, '0')}-of-${String(sizes.length).padStart(5, '0')}.safetensors`;
    files.push({ id: 'seed', path: rel, size, sha256: await writeRandomFile(path.join(www, 'seed', rel), size) });
  }
  await fsp.writeFile(metaFile, JSON.stringify({ want, files }));
  return files;
}

/** The many-file artifact: small files of 1–64 KiB (fixed seed) plus shards; reused when --dir holds the same sizes. */
async function makeManySet(www: string): Promise<DataFile[]> {
  const metaFile = path.join(www, 'many.json');
  const want = { count: opts.manyCount, shards: opts.manyShards, shardSize: opts.manyShardSize };
  try {
    const meta = JSON.parse(await fsp.readFile(metaFile, 'utf8'));
    if (JSON.stringify(meta.want) === JSON.stringify(want)) return meta.files;
  } catch {
    // none yet
  }
  log(`▶ Generating ${opts.manyCount} files of 1–64 KiB + ${opts.manyShards} × ${fmtBytes(opts.manyShardSize)} in ${www}/many`);
  await fsp.rm(path.join(www, 'many'), { recursive: true, force: true });
  const files: DataFile[] = [];
  let seed = 15;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (let i = 0; i < opts.manyCount; i++) {
    const size = 1024 + Math.floor(rnd() * 63 * 1024);
    randomFillSync(buf, 0, size);
    const rel = `tokenizer/${String(i % 100).padStart(2, '0')}/f${String(i).padStart(5, '0')}.bin`;
    const file = path.join(www, 'many', rel);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, buf.subarray(0, size));
    files.push({ id: 'many', path: rel, size, sha256: createHash('sha256').update(buf.subarray(0, size)).digest('hex') });
  }
  for (let i = 1; i <= opts.manyShards; i++) {
    const rel = `model-${String(i).padStart(5, '0')}-of-${String(opts.manyShards).padStart(5, '0')}.safetensors`;
    files.push({ id: 'many', path: rel, size: opts.manyShardSize, sha256: await writeRandomFile(path.join(www, 'many', rel), opts.manyShardSize) });
  }
  await fsp.writeFile(metaFile, JSON.stringify({ want, files }));
  return files;
}

/** `openssl speed -evp sha256` on one core, 16 KiB blocks: bytes per second (undefined if it cannot be read). */
async function opensslSpeed(): Promise<number | undefined> {
  const r = await $({ nothrow: true })`openssl speed -evp sha256 -seconds 2 -bytes 16384`;
  const m = /^sha256\s.*?([\d.]+)k\s*$/im.exec(r.stdout);
  return m ? Number(m[1]) * 1000 : undefined;
}

function manifest(sourceUrl: string, groups: DataFile[][]): string {
  const lines = ['version: 1', 'hostDir: ./host', 'cacheDir: ./cache', 'sources:', '  - name: origin', `    url: "${sourceUrl}"`, 'artifacts:'];
  for (const files of groups) {
    lines.push(`  - id: ${files[0]!.id}`, '    files:');
    for (const f of files) lines.push(`      - {path: ${f.path}, size: ${f.size}, sha256: ${f.sha256}}`);
  }
  return `${lines.join('\n')}\n`;
}

// ───────────────────────────── nginx ─────────────────────────────

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

async function startNginx(dir: string, www: string, netns?: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const inNs = netns ? ['ip', 'netns', 'exec', netns] : [];
  const conf = path.join(dir, 'nginx.conf');
  const tmp = path.join(dir, 'nginx-tmp');
  await fsp.mkdir(tmp, { recursive: true });
  await fsp.writeFile(
    conf,
    `# written by bench/run.ts
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

// ───────────────────────────── the 40 ms link ─────────────────────────────

/** Bench-only: holds every packet of NFQUEUE <queue> for <ms> before accepting it (a fixed one-way delay). */
const DELAY_C = String.raw`#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#define MAXQ 65536
static uint32_t ids[MAXQ];
static double due[MAXQ];
static unsigned head, tail;
static double delay_s;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int cb(struct nfq_q_handle *qh, struct nfgenmsg *m, struct nfq_data *nfa, void *data) {
  (void)m; (void)data;
  uint32_t id = ntohl(nfq_get_msg_packet_hdr(nfa)->packet_id);
  if (tail - head >= MAXQ) return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  ids[tail % MAXQ] = id; due[tail % MAXQ] = now() + delay_s; tail++;
  return 0;
}
int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: delay <ms> [queue]\n"); return 2; }
  delay_s = atof(argv[1]) / 1000.0;
  struct nfq_handle *h = nfq_open();
  if (!h) { perror("nfq_open"); return 1; }
  nfq_unbind_pf(h, AF_INET); nfq_bind_pf(h, AF_INET);
  struct nfq_q_handle *qh = nfq_create_queue(h, argc > 2 ? atoi(argv[2]) : 0, &cb, NULL);
  if (!qh) { perror("nfq_create_queue"); return 1; }
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) nfq_set_mode(qh, NFQNL_COPY_PACKET, 64);
  nfq_set_queue_maxlen(qh, MAXQ);
  nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 64 * 1024 * 1024);
  int fd = nfq_fd(h);
  static char buf[262144] __attribute__((aligned));
  printf("ready\n"); fflush(stdout);
  for (;;) {
    double t = now();
    while (head != tail && due[head % MAXQ] <= t) { nfq_set_verdict(qh, ids[head % MAXQ], NF_ACCEPT, 0, NULL); head++; }
    struct timespec ts, *tp = NULL;
    if (head != tail) { double w = due[head % MAXQ] - t; if (w < 0) w = 0; ts.tv_sec = (time_t)w; ts.tv_nsec = (long)((w - ts.tv_sec) * 1e9); tp = &ts; }
    struct pollfd p = {fd, POLLIN, 0};
    if (ppoll(&p, 1, tp, NULL) > 0) { int n; while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) nfq_handle_packet(h, buf, n); }
  }
}
`;

interface Link {
  netns: string;
  /** argv prefix that runs a command inside the namespace */
  inNs: string[];
  stop: () => Promise<void>;
}

/** A network namespace whose loopback has 20 ms each way (NFQUEUE + the delay program) and a 1 Gbit tbf. */
async function startLink(dir: string): Promise<Link> {
  if (process.getuid?.() !== 0) throw new Error('the 40 ms link cases (7, 8) need root (ip netns, tc, iptables)');
  const netns = `mmbench-${process.pid}`;
  const inNs = ['ip', 'netns', 'exec', netns];
  const src = path.join(dir, 'delay.c');
  const bin = path.join(dir, 'delay');
  await fsp.writeFile(src, DELAY_C);
  await $`gcc -O2 -o ${bin} ${src} -lnetfilter_queue -lnfnetlink`;
  await $`ip netns add ${netns}`;
  let delay: ChildProcess | undefined;
  const stop = async () => {
    if (delay && delay.exitCode === null) {
      const gone = new Promise((r) => delay!.once('exit', r));
      delay.kill('SIGTERM');
      await gone;
    }
    await $({ nothrow: true })`ip netns del ${netns}`;
  };
  try {
    await $`${inNs} ip link set lo up`;
    await $`${inNs} tc qdisc add dev lo root tbf rate 1gbit burst 4mb latency 100ms`;
    await $`${inNs} iptables-legacy -t mangle -A OUTPUT -p tcp -j NFQUEUE --queue-num 0 --queue-bypass`;
    delay = spawn(inNs[0]!, [...inNs.slice(1), bin, '20', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const d = delay;
    await new Promise<void>((resolve, reject) => {
      d.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      d.once('exit', (code) => reject(new Error(`the delay program exited (${code})`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { netns, inNs, stop };
}

// ───────────────────────────── measuring ─────────────────────────────

interface Sample {
  wallS: number;
  /** peak RSS of the process (for pipelines: of the largest single process), KiB → MB */
  rssMB: number;
  cpuS: number;
  load1: number;
}

function loadavg(): number {
  return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Run `cmd` (argv) under /usr/bin/time; returns wall time, peak RSS and CPU time. Throws on a non-zero exit. */
async function measure(cmd: string[], cwd: string, before?: () => Promise<void>): Promise<Sample> {
  if (before) await before();
  await $`sync`;
  const timeFile = path.join(os.tmpdir(), `modelmount-bench-time-${process.pid}`);
  const load1 = loadavg();
  const t0 = process.hrtime.bigint();
  const r = await $({ cwd, nothrow: true })`/usr/bin/time -f ${'%e %M %U %S'} -o ${timeFile} ${cmd}`;
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const timeOut = (await fsp.readFile(timeFile, 'utf8')).trim().split('\n').pop()!;
  await fsp.rm(timeFile, { force: true });
  if (r.exitCode !== 0) {
    throw new Error(`${cmd.join(' ')} exited ${r.exitCode}\n${r.stderr.slice(-2000)}\n${r.stdout.slice(-2000)}`);
  }
  const [, rssKiB, user, sys] = timeOut.split(' ').map(Number);
  return { wallS, rssMB: (rssKiB ?? 0) / 1024, cpuS: (user ?? 0) + (sys ?? 0), load1 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmtBytes(n: number): string {
  if (n >= GiB) return `${+(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  return `${n} B`;
}

async function readAll(files: string[]): Promise<void> {
  const buf = Buffer.allocUnsafe(8 * MiB);
  for (const f of files) {
    const fd = fs.openSync(f, 'r');
    try {
      while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      fs.closeSync(fd);
    }
  }
}

interface Contender {
  name: string;
  cmd: string[];
  /** prepare a clean start (delete outputs) — not timed */
  before?: () => Promise<void>;
  /** delete the outputs right after the measurement (large cases: keeps the page cache and disk for the next) — not timed */
  after?: () => Promise<void>;
}

interface CaseResult {
  id: string;
  title: string;
  tool: Contender;
  /** the same command from the --baseline checkout */
  baseline?: Contender;
  peers: Contender[];
  samples: Map<string, Sample[]>;
  targets: { peer: string; max: number }[];
  absoluteMaxS?: number;
  /** modelmount's median may exceed this peer's by at most maxS seconds */
  diffMaxS?: { peer: string; maxS: number };
  note?: string;
}

async function runCase(c: CaseResult, cwd: string, rounds: number): Promise<void> {
  const all = [c.tool, ...(c.baseline ? [c.baseline] : []), ...c.peers];
  for (const x of all) c.samples.set(x.name, []);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? all : [...all].reverse();
    const line: string[] = [];
    for (const x of order) {
      const s = await measure(x.cmd, cwd, x.before);
      if (x.after) await x.after();
      c.samples.get(x.name)!.push(s);
      line.push(`${x.name} ${s.wallS.toFixed(2)} s`);
    }
    log(`  case ${c.id} round ${round + 1}/${rounds}: ${line.join(', ')}`);
  }
}

// ───────────────────────────── main ─────────────────────────────

async function main(): Promise<void> {
  await ensureTools();
  const dir = opts.dir ? path.resolve(opts.dir) : await fsp.mkdtemp(path.join(os.tmpdir(), 'modelmount-bench-'));
  // mkdtemp makes it 0700: nginx's workers (another user) must get through it to www/
  if (!opts.dir) await fsp.chmod(dir, 0o755);
  await fsp.mkdir(dir, { recursive: true });
  const www = path.join(dir, 'www');
  const work = path.join(dir, 'work');
  await fsp.rm(work, { recursive: true, force: true });
  await fsp.mkdir(work, { recursive: true });
  const { big, set } = await makeDataSet(www);
  const allFiles = [big, ...set];
  const nginx = await startNginx(dir, www);
  const onSignal = () => {
    void nginx.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const mm = ['node', opts.modelmount];
  /** the tool's command with the baseline's bin and its own folders (suffix "b") */
  const baselineOf = (tool: Contender, fresh?: (...d: string[]) => () => Promise<void>, dirs: string[] = []): Contender | undefined => {
    if (!opts.baseline) return undefined;
    const cmd = tool.cmd.map((a) => (a === opts.modelmount ? opts.baseline! : dirs.some((d) => a.endsWith(`/${d}`)) ? `${a}b` : a));
    const own = fresh && dirs.length ? fresh(...dirs.map((d) => `${d}b`)) : undefined;
    return { name: 'modelmount before', cmd, ...(own ? { before: own } : {}), ...(own && tool.after ? { after: own } : {}) };
  };
  const results: CaseResult[] = [];
  const started = new Date();
  try {
    const m = (name: string, yaml: string) => {
      const p = path.join(work, name);
      fs.writeFileSync(p, yaml);
      return p;
    };
    const mBigHttp = m('big-http.yaml', manifest(nginx.url, [[big]]));
    const mSetHttp = m('set-http.yaml', manifest(nginx.url, [set]));
    const mBigFile = m('big-file.yaml', manifest(`${www}/`, [[big]]));
    const mAll = m('all-http.yaml', manifest(nginx.url, [[big], set]));
    const fresh = (...dirs: string[]) => async () => {
      for (const d of dirs) await fsp.rm(path.join(work, d), { recursive: true, force: true });
    };
    const update = (manifestFile: string, host: string, cache: string) => [
      ...mm,
      'update',
      '--manifest',
      manifestFile,
      '--yes',
      '--host-dir',
      path.join(work, host),
      '--cache-dir',
      path.join(work, cache),
    ];
    const bigUrl = `${nginx.url}${big.id}/${big.path}`;
    const bigSrc = path.join(www, big.id, big.path);

    if (opts.cases.has('1') || opts.cases.has('6')) {
      await readAll([bigSrc]);
      const c: CaseResult = {
        id: '1',
        title: `download + verify + install, one ${fmtBytes(big.size)} file over HTTP (nginx, loopback)`,
        tool: { name: 'modelmount update', cmd: update(mBigHttp, 'h1', 'c1'), before: fresh('h1', 'c1') },
        peers: [
          { name: 'curl -o', cmd: ['curl', '-sS', '-o', path.join(work, 'curl.bin'), bigUrl], before: fresh('curl.bin') },
          {
            name: 'curl | tee | sha256sum',
            cmd: ['bash', '-o', 'pipefail', '-c', `curl -sS ${bigUrl} | tee ${path.join(work, 'tee.bin')} | sha256sum`],
            before: fresh('tee.bin'),
          },
          {
            name: 'curl -o && sync (info)',
            cmd: ['bash', '-c', `curl -sS -o ${path.join(work, 'curls.bin')} ${bigUrl} && sync -f ${path.join(work, 'curls.bin')}`],
            before: fresh('curls.bin'),
          },
        ],
        samples: new Map(),
        targets: [
          { peer: 'curl -o', max: 1.3 },
          { peer: 'curl | tee | sha256sum', max: 0.8 },
        ],
        note: 'modelmount also fsyncs the blob before it enters the store; curl does not (see the "&& sync" row).',
      };
      c.baseline = baselineOf(c.tool, fresh, ['h1', 'c1']);
      log(`▶ Case 1: ${c.title}`);
      await runCase(c, work, opts.rounds);
      results.push(c);
      await fresh('curl.bin', 'tee.bin', 'curls.bin', 'h1', 'c1', 'h1b', 'c1b')();
    }

    if (opts.cases.has('2')) {
      await readAll(set.map((f) => path.join(www, f.id, f.path)));
      const list = path.join(work, 'aria2-input.txt');
      fs.writeFileSync(list, set.map((f) => `${nginx.url}${f.id}/${f.path}\n  out=${f.path}`).join('\n') + '\n');
      const c: CaseResult = {
        id: '2',
        title: `download of the ${set.length}-file set (${fmtBytes(set.reduce((s, f) => s + f.size, 0))}) over HTTP`,
        tool: { name: 'modelmount update', cmd: update(mSetHttp, 'h2', 'c2'), before: fresh('h2', 'c2') },
        peers: [
          {
            name: 'aria2c -j8 -x4',
            cmd: ['aria2c', '-q', '-j8', '-x4', '--allow-overwrite=true', '--auto-file-renaming=false', '-d', path.join(work, 'aria2'), '-i', list],
            before: fresh('aria2'),
          },
        ],
        samples: new Map(),
        targets: [{ peer: 'aria2c -j8 -x4', max: 1.0 }],
        note: 'modelmount verifies every file and installs it; aria2c only downloads. modelmount runs with its default --jobs (1 per core, 2 to 4).',
      };
      c.baseline = baselineOf(c.tool, fresh, ['h2', 'c2']);
      log(`▶ Case 2: ${c.title}`);
      await runCase(c, work, opts.rounds);
      results.push(c);
      await fresh('aria2', 'h2', 'c2', 'h2b', 'c2b')();
    }

    if (opts.cases.has('3')) {
      await readAll([bigSrc]);
      const copy = path.join(work, 'cp.bin');
      const c: CaseResult = {
        id: '3',
        title: `copy from a local folder + verify, ${fmtBytes(big.size)}`,
        tool: { name: 'modelmount update (file source)', cmd: update(mBigFile, 'h3', 'c3'), before: fresh('h3', 'c3') },
        peers: [{ name: 'cp + sha256sum', cmd: ['bash', '-c', `cp ${bigSrc} ${copy} && sha256sum ${copy}`], before: fresh('cp.bin') }],
        samples: new Map(),
        targets: [{ peer: 'cp + sha256sum', max: 0.7 }],
      };
      c.baseline = baselineOf(c.tool, fresh, ['h3', 'c3']);
      log(`▶ Case 3: ${c.title}`);
      await runCase(c, work, opts.rounds);
      results.push(c);
      await fresh('cp.bin', 'h3', 'c3', 'h3b', 'c3b')();
    }

    if (opts.cases.has('15')) {
      const seed = await makeSeedSet(www);
      const seedBytes = seed.reduce((s, f) => s + f.size, 0);
      await readAll(seed.map((f) => path.join(www, f.id, f.path)));
      const jobs = opts.seedJobs;
      const list = path.join(work, 'curl15-urls.txt');
      fs.writeFileSync(list, seed.map((f) => `${nginx.url}${f.id}/${f.path}\n`).join(''));
      const curlDir = path.join(work, 'curl15');
      const curlAll = `xargs -a ${list} -P${jobs} -n1 curl -fsS --create-dirs --output-dir ${curlDir} -O`;
      const curlPeer = `xargs -P${jobs} curl -o`;
      const c: CaseResult = {
        id: '15',
        title: `the seed's size: 2 × ${fmtBytes(opts.seedBig)} + ${opts.seedCount} × ${fmtBytes(opts.seedSmall)} (${fmtBytes(seedBytes)}) over HTTP, ${jobs} at a time`,
        tool: {
          name: `modelmount update --jobs ${jobs}`,
          cmd: [...update(m('seed-http.yaml', manifest(nginx.url, [seed])), 'h15', 'c15'), '--jobs', String(jobs)],
          before: fresh('h15', 'c15'),
          after: fresh('h15', 'c15'),
        },
        peers: [
          { name: curlPeer, cmd: ['bash', '-c', curlAll], before: fresh('curl15'), after: fresh('curl15') },
          { name: `${curlPeer} && sync (info)`, cmd: ['bash', '-c', `${curlAll} && sync -f ${curlDir}`], before: fresh('curl15'), after: fresh('curl15') },
        ],
        samples: new Map(),
        targets: [{ peer: curlPeer, max: 1.0 }],
        note: `modelmount verifies every file, fsyncs and installs it; curl only downloads (see the "&& sync" row). Same parallelism: \`xargs -P${jobs}\` runs ${jobs} curls at a time, modelmount runs with \`--jobs ${jobs}\`. Each contender's output is deleted right after its measurement. The RSS row compares modelmount's peak RSS here with case 1's (one ${fmtBytes(opts.big)} file, the same default jobs on this machine).`,
      };
      c.baseline = baselineOf(c.tool, fresh, ['h15', 'c15']);
      log(`▶ Case 15: ${c.title}`);
      await runCase(c, work, opts.rounds);
      results.push(c);
      await fresh('curl15', 'h15', 'c15', 'h15b', 'c15b')();
    }

    if (opts.cases.has('4') || opts.cases.has('5') || opts.cases.has('9') || opts.cases.has('16')) {
      // One installed copy of the whole set for verify and the no-op update.
      log('▶ Installing the whole set once for cases 4 and 5');
      await measure(update(mAll, 'h-all', 'c-all'), work, fresh('h-all', 'c-all'));
      const installed = allFiles.map((f) => path.join(work, 'h-all', f.id, f.path));
      const sums = path.join(work, 'SHA256SUMS');
      fs.writeFileSync(sums, allFiles.map((f, i) => `${f.sha256}  ${installed[i]}`).join('\n') + '\n');
      await readAll(installed);
      if (opts.cases.has('4')) {
        const c: CaseResult = {
          id: '4',
          title: `verify --full of the whole set (${fmtBytes(allFiles.reduce((s, f) => s + f.size, 0))}) from page cache`,
          tool: { name: 'modelmount verify --full', cmd: [...mm, 'verify', '--full', '--manifest', mAll, '--host-dir', path.join(work, 'h-all')] },
          peers: [{ name: 'sha256sum', cmd: ['sha256sum', ...installed] }],
          samples: new Map(),
          targets: [{ peer: 'sha256sum', max: 0.35 }],
        };
        c.baseline = baselineOf(c.tool);
        log(`▶ Case 4: ${c.title}`);
        await runCase(c, work, opts.rounds);
        results.push(c);
      }
      if (opts.cases.has('9')) {
        const cores = os.availableParallelism();
        const speed = await opensslSpeed();
        const total = allFiles.reduce((s, f) => s + f.size, 0);
        const c: CaseResult = {
          id: '9',
          title: `verify --full of the whole set (${fmtBytes(total)}) against openssl sha256 on every core`,
          tool: { name: 'modelmount verify --full', cmd: [...mm, 'verify', '--full', '--manifest', mAll, '--host-dir', path.join(work, 'h-all')] },
          peers: [
            {
              name: `openssl dgst -sha256 × ${cores} (xargs -P${cores})`,
              cmd: ['bash', '-c', `printf '%s\\0' "$@" | xargs -0 -P${cores} -n1 openssl dgst -sha256 > /dev/null`, 'bash', ...installed],
            },
          ],
          samples: new Map(),
          // ≥ 80 % of what openssl gets out of every core: at most 1/0.8 of its time
          targets: [{ peer: `openssl dgst -sha256 × ${cores} (xargs -P${cores})`, max: 1.25 }],
          note: `\`openssl speed -evp sha256\` (16 KiB blocks, one core) in this run: ${speed ? `${(speed / MiB).toFixed(0)} MiB/s per core, × ${cores} cores = ${((speed * cores) / MiB).toFixed(0)} MiB/s, i.e. ${(total / (speed * cores)).toFixed(2)} s for this set` : 'not measured'}. The peer is the same limit measured on the files themselves (one openssl per file, ${cores} at a time).`,
        };
        c.baseline = baselineOf(c.tool);
        log(`▶ Case 9: ${c.title}`);
        await runCase(c, work, opts.rounds);
        results.push(c);
      }
      if (opts.cases.has('5')) {
        const c: CaseResult = {
          id: '5',
          title: 'no-op update of the installed set (whole process, Node start-up included)',
          tool: { name: 'modelmount update (no-op)', cmd: update(mAll, 'h-all', 'c-all') },
          peers: [
            { name: 'sha256sum -c', cmd: ['sha256sum', '--quiet', '-c', sums] },
            { name: 'modelmount --version (info)', cmd: [...mm, '--version'] },
          ],
          samples: new Map(),
          targets: [{ peer: 'sha256sum -c', max: 0.2 }],
          absoluteMaxS: 1,
        };
        c.baseline = baselineOf(c.tool);
        log(`▶ Case 5: ${c.title}`);
        await runCase(c, work, opts.rounds);
        results.push(c);
      }
      if (opts.cases.has('16')) {
        const c: CaseResult = {
          id: '16',
          title: `start-up: a no-op update of a small set (the ${allFiles.length} installed files) against \`node -e 0\``,
          tool: { name: 'modelmount update (no-op)', cmd: update(mAll, 'h-all', 'c-all') },
          peers: [{ name: 'node -e 0', cmd: ['node', '-e', '0'] }],
          samples: new Map(),
          targets: [],
          diffMaxS: { peer: 'node -e 0', maxS: 0.1 },
        };
        c.baseline = baselineOf(c.tool);
        log(`▶ Case 16: ${c.title}`);
        await runCase(c, work, Math.max(opts.rounds, 5));
        results.push(c);
      }
    }
    if (['11', '12', '13', '14'].some((x) => opts.cases.has(x))) {
      const many = await makeManySet(www);
      const manyBytes = many.reduce((s, f) => s + f.size, 0);
      const what = `${opts.manyCount} files of 1–64 KiB + ${opts.manyShards} × ${fmtBytes(opts.manyShardSize)} (${fmtBytes(manyBytes)})`;
      const srcDir = path.join(www, 'many');
      await readAll(many.map((f) => path.join(srcDir, f.path)));
      const mManyHttp = m('many-http.yaml', manifest(nginx.url, [many]));
      const mManyFile = m('many-file.yaml', manifest(`${www}/`, [many]));
      if (opts.cases.has('11')) {
        const list = path.join(work, 'aria11-input.txt');
        fs.writeFileSync(list, many.map((f) => `${nginx.url}many/${f.path}\n  out=${f.path}`).join('\n') + '\n');
        const c: CaseResult = {
          id: '11',
          title: `many files over HTTP: ${what}`,
          tool: { name: 'modelmount update', cmd: update(mManyHttp, 'h11', 'c11'), before: fresh('h11', 'c11') },
          peers: [{ name: 'aria2c -i list -j16', cmd: ['aria2c', '-q', '-j16', '--allow-overwrite=true', '--auto-file-renaming=false', '-d', path.join(work, 'aria11'), '-i', list], before: fresh('aria11') }],
          samples: new Map(),
          targets: [{ peer: 'aria2c -i list -j16', max: 0.8 }],
          note: 'aria2c verifies nothing. Peak RSS target ≤ 200 MB: see the RSS column.',
        };
        c.baseline = baselineOf(c.tool, fresh, ['h11', 'c11']);
        log(`▶ Case 11: ${c.title}`);
        await runCase(c, work, opts.rounds);
        results.push(c);
        await fresh('aria11', 'h11', 'c11', 'h11b', 'c11b')();
      }
      if (opts.cases.has('12')) {
        const dst = path.join(work, 'cp12');
        const c: CaseResult = {
          id: '12',
          title: `many files from a local folder: ${what}`,
          tool: { name: 'modelmount update (file source)', cmd: update(mManyFile, 'h12', 'c12'), before: fresh('h12', 'c12') },
          peers: [{ name: 'cp -r + sha256sum', cmd: ['bash', '-c', `cp -r ${srcDir} ${dst} && cd ${dst} && find . -type f -print0 | xargs -0 sha256sum > /dev/null`], before: fresh('cp12') }],
          samples: new Map(),
          targets: [{ peer: 'cp -r + sha256sum', max: 0.5 }],
        };
        c.baseline = baselineOf(c.tool, fresh, ['h12', 'c12']);
        log(`▶ Case 12: ${c.title}`);
        await runCase(c, work, opts.rounds);
        results.push(c);
        await fresh('cp12', 'h12b', 'c12b')();
      }
      if (opts.cases.has('13') || opts.cases.has('14')) {
        if (!fs.existsSync(path.join(work, 'h12'))) await measure(update(mManyFile, 'h12', 'c12'), work, fresh('h12', 'c12'));
        if (opts.cases.has('13')) {
          const c: CaseResult = {
            id: '13',
            title: `no-op update of the installed many-file set (whole process)`,
            tool: { name: 'modelmount update (no-op)', cmd: update(mManyFile, 'h12', 'c12') },
            peers: [{ name: 'node -e 0 (info)', cmd: ['node', '-e', '0'] }],
            samples: new Map(),
            targets: [],
            absoluteMaxS: 0.5,
          };
          log(`▶ Case 13: ${c.title}`);
          await runCase(c, work, opts.rounds);
          results.push(c);
        }
        if (opts.cases.has('14')) {
          const c: CaseResult = {
            id: '14',
            title: `verify of the installed many-file set (state cache, whole process)`,
            tool: { name: 'modelmount verify', cmd: [...mm, 'verify', '--manifest', mManyFile, '--host-dir', path.join(work, 'h12')] },
            peers: [{ name: 'node -e 0 (info)', cmd: ['node', '-e', '0'] }],
            samples: new Map(),
            targets: [],
            absoluteMaxS: 0.5,
          };
          log(`▶ Case 14: ${c.title}`);
          await runCase(c, work, opts.rounds);
          results.push(c);
        }
      }
      await fresh('h12', 'c12')();
    }

    if (opts.cases.has('10')) {
      const c: CaseResult = {
        id: '10',
        title: 'start-up: `modelmount --version` against `node -e 0`',
        tool: { name: 'modelmount --version', cmd: [...mm, '--version'] },
        peers: [{ name: 'node -e 0', cmd: ['node', '-e', '0'] }],
        samples: new Map(),
        targets: [],
        diffMaxS: { peer: 'node -e 0', maxS: 0.1 },
      };
      c.baseline = baselineOf(c.tool);
      log(`▶ Case 10: ${c.title}`);
      await runCase(c, work, Math.max(opts.rounds, 5));
      results.push(c);
    }

    if (opts.cases.has('7') || opts.cases.has('8')) {
      const link = await startLink(dir);
      const linkDir = path.join(dir, 'link');
      await fsp.mkdir(linkDir, { recursive: true });
      const rounds = Math.min(opts.rounds, 3);
      try {
        const ngx = await startNginx(linkDir, www, link.netns);
        try {
          const inNs = (cmd: string[]) => [...link.inNs, ...cmd];
          const inNsFresh = (t: Contender): Contender => ({ ...t, cmd: inNs(t.cmd) });
          if (opts.cases.has('7')) {
            const lb = await linkFile(www);
            await readAll([path.join(www, lb.id, lb.path)]);
            const url = `${ngx.url}${lb.id}/${lb.path}`;
            const mLink = m('link-big.yaml', manifest(ngx.url, [[lb]]));
            const c: CaseResult = {
              id: '7',
              title: `one ${fmtBytes(lb.size)} file over a 40 ms link (20 ms each way, tbf 1 Gbit, nginx in a netns)`,
              tool: inNsFresh({ name: 'modelmount update --jobs 8', cmd: [...update(mLink, 'h7', 'c7'), '--jobs', '8'], before: fresh('h7', 'c7') }),
              peers: [
                {
                  name: 'aria2c -x8 -s8',
                  cmd: inNs(['aria2c', '-q', '-x8', '-s8', '--allow-overwrite=true', '--auto-file-renaming=false', '-d', path.join(work, 'aria7'), '-o', lb.path, url]),
                  before: fresh('aria7'),
                },
              ],
              samples: new Map(),
              targets: [{ peer: 'aria2c -x8 -s8', max: 1.0 }],
              note: 'modelmount verifies the sha256 (in order, as the pieces complete), fsyncs and installs; aria2c only downloads. One connection (curl, or modelmount before the ranged fetch) was ~6 MB/s on this link.',
            };
            c.baseline = baselineOf(c.tool, fresh, ['h7', 'c7']);
            log(`▶ Case 7: ${c.title}`);
            await runCase(c, work, rounds);
            results.push(c);
            await fresh('aria7', 'h7', 'c7', 'h7b', 'c7b')();
          }
          if (opts.cases.has('8')) {
            await readAll(set.map((f) => path.join(www, f.id, f.path)));
            const list = path.join(work, 'aria8-input.txt');
            fs.writeFileSync(list, set.map((f) => `${ngx.url}${f.id}/${f.path}\n  out=${f.path}`).join('\n') + '\n');
            const mLinkSet = m('link-set.yaml', manifest(ngx.url, [set]));
            const c: CaseResult = {
              id: '8',
              title: `the ${set.length}-file set (${fmtBytes(set.reduce((s, f) => s + f.size, 0))}) over the 40 ms link`,
              tool: inNsFresh({ name: 'modelmount update --jobs 8', cmd: [...update(mLinkSet, 'h8', 'c8'), '--jobs', '8'], before: fresh('h8', 'c8') }),
              peers: [
                {
                  name: 'aria2c -j8',
                  cmd: inNs(['aria2c', '-q', '-j8', '--allow-overwrite=true', '--auto-file-renaming=false', '-d', path.join(work, 'aria8'), '-i', list]),
                  before: fresh('aria8'),
                },
              ],
              samples: new Map(),
              targets: [{ peer: 'aria2c -j8', max: 1.0 }],
            };
            c.baseline = baselineOf(c.tool, fresh, ['h8', 'c8']);
            log(`▶ Case 8: ${c.title}`);
            await runCase(c, work, rounds);
            results.push(c);
            await fresh('aria8', 'h8', 'c8', 'h8b', 'c8b')();
          }
        } finally {
          await ngx.stop();
        }
      } finally {
        await link.stop();
      }
    }
  } finally {
    await nginx.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!opts.keep && !opts.dir) await fsp.rm(dir, { recursive: true, force: true });
    else await fsp.rm(work, { recursive: true, force: true });
  }
  const report = await formatReport(results, started, path.dirname(dir));
  process.stdout.write(report);
  if (opts.out) {
    // A hand-written analysis below the marker survives regeneration.
    const previous = await fsp.readFile(opts.out, 'utf8').catch(() => '');
    const at = previous.indexOf(ANALYSIS_MARKER);
    await fsp.writeFile(opts.out, at === -1 ? report : `${report}\n${previous.slice(at)}`);
    log(`▶ Wrote ${path.relative(process.cwd(), opts.out)}`);
  }
}

// ───────────────────────────── report ─────────────────────────────

async function formatReport(results: CaseResult[], started: Date, dataDir: string): Promise<string> {
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? os.cpus()[0]?.model ?? 'unknown').trim();
  const shaNi = /\bsha_ni\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  const v = await versions();
  let gitRev = '';
  try {
    const checkout = path.resolve(path.dirname(opts.modelmount), '..');
    gitRev = (await $({ cwd: checkout })`git rev-parse --short HEAD`).stdout.trim();
    const dirty = (await $({ cwd: checkout })`git status --porcelain --untracked-files=no -- lib scripts bin`).stdout.trim();
    if (dirty) gitRev += ' (+ uncommitted changes)';
  } catch {
    gitRev = 'unknown';
  }
  let baselineRev = '';
  if (opts.baseline) {
    baselineRev = (await $({ cwd: path.resolve(path.dirname(opts.baseline), '..'), nothrow: true })`git rev-parse --short HEAD`).stdout.trim() || 'unknown';
  }
  const rows: string[] = [];
  const verdicts: string[] = [];
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const med = (c: CaseResult, name: string) => median(c.samples.get(name)!.map((s) => s.wallS));
  const verdict = (ratio: number, max: number) => (ratio <= max ? `✅ ≤ ${max}` : `❌ > ${max}`);
  for (const c of results) {
    const t = med(c, c.tool.name);
    const b = c.baseline ? med(c, c.baseline.name) : undefined;
    for (const target of c.targets) {
      const pm = med(c, target.peer);
      const ratio = t / pm;
      rows.push(
        `| ${c.id} | ${c.title} | ${cell(target.peer)} ${pm.toFixed(2)} s | **${t.toFixed(2)} s** | **${ratio.toFixed(2)}×** | ${b !== undefined ? `${b.toFixed(2)} s | ${(b / pm).toFixed(2)}×` : '— | —'} | ≤ ${target.max}× | ${verdict(ratio, target.max)} |`,
      );
      verdicts.push(`${ratio <= target.max ? 'PASS' : 'MISS'} case ${c.id}: ${c.tool.name} / ${target.peer} = ${ratio.toFixed(2)}× (target ≤ ${target.max}×)${b !== undefined ? `; before: ${(b / pm).toFixed(2)}×` : ''}`);
    }
    if (c.absoluteMaxS !== undefined) {
      rows.push(`| ${c.id} | (absolute) | — | **${t.toFixed(2)} s** | | ${b !== undefined ? `${b.toFixed(2)} s | ` : '— | '}| ≤ ${c.absoluteMaxS} s | ${t <= c.absoluteMaxS ? '✅' : '❌'} |`);
      verdicts.push(`${t <= c.absoluteMaxS ? 'PASS' : 'MISS'} case ${c.id}: ${t.toFixed(2)} s (target ≤ ${c.absoluteMaxS} s)${b !== undefined ? `; before: ${b.toFixed(2)} s` : ''}`);
    }
    if (c.diffMaxS) {
      const d = t - med(c, c.diffMaxS.peer);
      const ok = d <= c.diffMaxS.maxS;
      rows.push(`| ${c.id} | (difference) | ${cell(c.diffMaxS.peer)} | **+${d.toFixed(3)} s** | | ${b !== undefined ? `+${(b - med(c, c.diffMaxS.peer)).toFixed(3)} s | ` : '— | '}| ≤ +${c.diffMaxS.maxS} s | ${ok ? '✅' : '❌'} |`);
      verdicts.push(`${ok ? 'PASS' : 'MISS'} case ${c.id}: ${c.tool.name} − ${c.diffMaxS.peer} = ${d.toFixed(3)} s (target ≤ ${c.diffMaxS.maxS} s)`);
    }
    if (c.id === '1') {
      const rss = Math.max(...c.samples.get(c.tool.name)!.map((x) => x.rssMB));
      const rssB = c.baseline ? Math.max(...c.samples.get(c.baseline.name)!.map((x) => x.rssMB)) : undefined;
      rows.push(`| 6 | peak RSS of modelmount during case 1 (max over rounds) | — | **${rss.toFixed(0)} MB** | | ${rssB !== undefined ? `${rssB.toFixed(0)} MB | ` : '— | '}| ≤ 200 MB | ${rss <= 200 ? '✅' : '❌'} |`);
      verdicts.push(`${rss <= 200 ? 'PASS' : 'MISS'} case 6: peak RSS ${rss.toFixed(0)} MB (target ≤ 200 MB)${rssB !== undefined ? `; before: ${rssB.toFixed(0)} MB` : ''}`);
    }
    if (c.id === '15') {
      // flat in the set size: case 15's peak RSS against case 1's (one file) in the same run, else the 200 MB of case 6
      const peak = (cr: CaseResult, name: string) => Math.max(...cr.samples.get(name)!.map((x) => x.rssMB));
      const one = results.find((r) => r.id === '1');
      const rss = peak(c, c.tool.name);
      const rssB = c.baseline ? peak(c, c.baseline.name) : undefined;
      const ref = one ? peak(one, one.tool.name) : undefined;
      const refB = one?.baseline && c.baseline ? peak(one, one.baseline.name) : undefined;
      const limit = ref !== undefined ? ref * 1.2 : 200;
      const ok = rss <= limit;
      const target = ref !== undefined ? `≤ 1.2× case 1` : '≤ 200 MB';
      rows.push(
        `| 15 | peak RSS of modelmount: this set against case 1 (max over rounds) | ${ref !== undefined ? `case 1: ${ref.toFixed(0)} MB` : 'case 1 not run'} | **${rss.toFixed(0)} MB** | ${ref !== undefined ? `**${(rss / ref).toFixed(2)}×**` : ''} | ${rssB !== undefined ? `${rssB.toFixed(0)} MB | ${refB !== undefined ? `${(rssB / refB).toFixed(2)}×` : ''}` : '— | —'} | ${target} | ${ok ? '✅' : '❌'} |`,
      );
      verdicts.push(`${ok ? 'PASS' : 'MISS'} case 15 RSS: ${rss.toFixed(0)} MB${ref !== undefined ? ` against case 1's ${ref.toFixed(0)} MB = ${(rss / ref).toFixed(2)}×` : ''} (target ${target})${rssB !== undefined ? `; before: ${rssB.toFixed(0)} MB` : ''}`);
    }
  }
  const detail: string[] = [];
  for (const c of results) {
    detail.push(`**Case ${c.id}** — ${c.title}${c.note ? `  \n_${c.note}_` : ''}`, '', '| contender | wall s (each round) | median | CPU s (median) | peak RSS MB (max) | load avg at start (median) |', '|---|---|---|---|---|---|');
    for (const x of [c.tool, ...(c.baseline ? [c.baseline] : []), ...c.peers]) {
      const s = c.samples.get(x.name)!;
      detail.push(
        `| ${cell(x.name)} | ${s.map((y) => y.wallS.toFixed(2)).join(', ')} | ${median(s.map((y) => y.wallS)).toFixed(2)} | ${median(s.map((y) => y.cpuS)).toFixed(2)} | ${Math.max(...s.map((y) => y.rssMB)).toFixed(0)} | ${median(s.map((y) => y.load1)).toFixed(2)} |`,
      );
    }
    detail.push('');
  }
  const fsType = (await $({ nothrow: true })`findmnt -n -o FSTYPE,OPTIONS -T ${dataDir}`).stdout.trim().replace(/\s+/, ' (') + ')';
  return `# modelmount benchmarks${opts.label ? ` — ${opts.label}` : ''}

Generated by \`npm run bench\` (bench/run.ts) on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC.

| | |
|---|---|
| CPU | ${cpu}${shaNi ? ' (SHA-NI)' : ''} |
| cores | ${os.availableParallelism()} |
| memory | ${fmtBytes(os.totalmem())} |
| kernel | ${os.release()} |
| Node | ${v.node} |
| modelmount | ${path.relative(ROOT, opts.modelmount) || opts.modelmount} @ ${gitRev} |
| before | ${opts.baseline ? `${opts.baseline} @ ${baselineRev}` : '— (run with --baseline <older checkout>/bin/modelmount.mjs)'} |
| peers | ${v.curl}; ${v.aria2c}; ${v.sha256sum}; nginx ${v.nginx} (sendfile on, loopback) |
| data | ${fmtBytes(opts.big)} + ${opts.count} × ${fmtBytes(opts.small)} random bytes on ${fsType} |
| rounds | ${opts.rounds}, tool and peers alternating (order reversed every other round); medians |
| method | whole processes timed spawn to exit (Node start-up included); before each measurement the previous outputs are deleted and \`sync\` runs; page caches are not dropped — the inputs are read once before each case, so every contender reads them from memory |
| load | the machine is shared: see the load average column under "Every sample" |

## Results

| case | what | peer (median) | modelmount | ÷ peer | before | ÷ peer | target | |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

${verdicts.map((x) => `- ${x}`).join('\n')}
${quick ? '\n_--quick: the files are too small for the targets to mean much; Node start-up (~0.2 s) dominates every modelmount time. Run without --quick for the real verdicts._\n' : ''}
## Every sample

${detail.join('\n')}
`;
}

await main().catch((err: unknown) => {
  log(`✖ ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
