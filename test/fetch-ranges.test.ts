/**
 * One large file over several ranged connections (lib/store/fetch-ranges.ts via fetchBlob), against
 * the loopback fault server: pieces verify with the one in-order hash, a piece cut mid-way is
 * resumed, a server that ignores Range falls back to one connection, kill -9 then resume.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Semaphore } from '../lib/concurrency.ts';
import { DependencyError } from '../lib/errors.ts';
import { blobPath, storeTmpDir } from '../lib/layout.ts';
import type { FileEntry } from '../lib/manifest/schema.ts';
import { createHttpSource } from '../lib/sources/http/source.ts';
import type { Source } from '../lib/sources/types.ts';
import { fetchBlob } from '../lib/store/fetch-blob.ts';
import { sha256, tempDir } from './helpers/cli.ts';
import { prng, randomData } from './helpers/seeded.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const servers: FaultServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const P = '/student/v0_ja/model.safetensors';
const PIECE = 256 * 1024;
const data = randomData(8 * PIECE + 4321, prng(15));
const entry: FileEntry = { path: 'model.safetensors', size: data.length, sha256: sha256(data) };

async function server(): Promise<FaultServer> {
  const s = await startFaultServer({ files: { [P]: data } });
  servers.push(s);
  return s;
}

function http(s: FaultServer): Source {
  return createHttpSource(
    { name: 'mirror', kind: 'http', base: s.url },
    { timeouts: { idleMs: 2000, connectMs: 2000, stallWindowMs: 2000 }, retry: { limit: 2, baseDelayMs: 20, maxDelayMs: 1500 } },
  );
}

/** fetch with up to `slots` extra connections; counts the extra connections taken */
async function fetchRanged(cache: string, s: FaultServer, slots = 3, source = http(s)) {
  const sem = new Semaphore(slots);
  let extra = 0;
  const r = await fetchBlob({
    cacheDir: cache,
    artifactId: 'student/v0_ja',
    file: entry,
    sources: [source],
    reopenDelayMs: 10,
    partialMinAgeMs: 0,
    rangedMinSize: 0,
    rangePieceSize: PIECE,
    extraConnection: () => {
      const release = sem.tryAcquire();
      if (release) extra++;
      return release;
    },
  });
  return { ...r, extra };
}

const ranges = (s: FaultServer) => s.requestsTo(P).map((q) => q.headers.range);

describe('one file over several ranged connections', () => {
  it('fetches every piece with its own bounded range, in parallel, and verifies the whole', async () => {
    const s = await server();
    const cache = await tempDir();
    const r = await fetchRanged(cache, s);
    expect(sha256(await fs.readFile(blobPath(cache, entry.sha256)))).toBe(entry.sha256);
    expect(r.transferred).toBe(data.length);
    expect(r.extra).toBeGreaterThan(0);
    // the last piece runs to the end of the file: asked open-ended
    const want = Array.from({ length: 9 }, (_, i) => `bytes=${i * PIECE}-${i < 8 ? (i + 1) * PIECE - 1 : ''}`);
    expect([...ranges(s)].sort()).toEqual([...want].sort());
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  it('never takes more connections than the shared bound allows (none free: one connection)', async () => {
    const s = await server();
    const cache = await tempDir();
    const r = await fetchRanged(cache, s, 0);
    expect(r.extra).toBe(0);
    expect(sha256(await fs.readFile(r.blob))).toBe(entry.sha256);
  });

  it('resumes a piece cut mid-way from where it stopped, up to the piece end only', async () => {
    const s = await server();
    s.fault(P, { cutAfter: 100_000, cutMode: 'rst' });
    const cache = await tempDir();
    const r = await fetchRanged(cache, s);
    expect(sha256(await fs.readFile(r.blob))).toBe(entry.sha256);
    const again = ranges(s).filter((h) => h && h.endsWith(`-${PIECE - 1}`) && !h.startsWith('bytes=0-'));
    expect(again).toHaveLength(1);
    const start = Number(/bytes=(\d+)-/.exec(again[0]!)![1]);
    expect(start).toBeGreaterThan(0);
    expect(start).toBeLessThanOrEqual(100_000);
    expect(r.transferred).toBe(data.length);
  });

  it('falls back to one connection when the server ignores Range (200)', async () => {
    const s = await server();
    s.fault(P, { ignoreRange: true });
    const cache = await tempDir();
    const r = await fetchRanged(cache, s);
    expect(sha256(await fs.readFile(r.blob))).toBe(entry.sha256);
    expect(r.extra).toBe(0); // no other connection was opened
    expect(ranges(s)).toEqual([`bytes=0-${PIECE - 1}`, undefined]);
  });

  it('kill -9 mid-way, then resume: pieces past the recorded prefix are discarded, the bytes are right', async () => {
    const s = await server();
    // piece 1 hangs half-way: the prefix stops at its start while the later pieces complete
    const cache = await tempDir();
    let hang = true;
    let hung = false;
    s.fault(
      P,
      {
        handler: (req, res) => {
          const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')!;
          const from = Number(m[1]);
          const to = Number(m[2] || data.length - 1);
          res.writeHead(206, { 'content-range': `bytes ${from}-${to}/${data.length}`, 'content-length': to - from + 1, etag: '"v1"' });
          if (hang && from === PIECE) {
            res.write(data.subarray(from, from + PIECE / 2));
            hung = true;
          } else res.end(data.subarray(from, to + 1));
        },
      },
      100,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/fetch-child.ts'), cache, s.url, entry.path, String(entry.size), entry.sha256, String(PIECE)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // wait until the other pieces are in (every piece requested) while piece 1 hangs, then kill
    const tmp = storeTmpDir(cache);
    for (;;) {
      if (child.exitCode !== null) break;
      const names = existsSync(tmp) ? await fs.readdir(tmp) : [];
      const prefixFile = names.find((n) => n.endsWith('.partial.prefix'));
      if (hung && prefixFile && ranges(s).length >= 9 && (await fs.readFile(path.join(tmp, prefixFile), 'utf8')) === `${PIECE}\n`) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    hang = false;
    expect(await exited, `the child ended before the kill:\n${out}`).toBeNull();
    const names = await fs.readdir(tmp);
    const partial = names.find((n) => n.endsWith('.partial'))!;
    // the killed run left a full-length file (pieces past the prefix written out of order) and its record
    expect((await fs.stat(path.join(tmp, partial))).size).toBe(data.length);
    expect(names).toContain(`${partial}.prefix`);

    const before = s.requestsTo(P).length;
    const r = await fetchRanged(cache, s);
    expect(sha256(await fs.readFile(r.blob))).toBe(entry.sha256);
    expect(r.resumedFrom).toBe(PIECE); // only the recorded prefix was kept
    expect(r.transferred).toBe(data.length - PIECE);
    expect(ranges(s).slice(before)[0]).toBe(`bytes=${PIECE}-${2 * PIECE - 1}`);
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  it('a garbled prefix record trusts nothing of the partial', async () => {
    const s = await server();
    const cache = await tempDir();
    const tmp = storeTmpDir(cache);
    await fs.mkdir(tmp, { recursive: true });
    const partial = path.join(tmp, `${entry.sha256}.otherhost.1.abc.partial`);
    await fs.writeFile(partial, Buffer.alloc(data.length)); // zeros: what holes read as
    await fs.writeFile(`${partial}.prefix`, 'garbage');
    const r = await fetchRanged(cache, s);
    expect(r.resumedFrom).toBe(0);
    expect(sha256(await fs.readFile(r.blob))).toBe(entry.sha256);
  });

  it('a piece that meets a broken installation (a library its connection cannot load) ends the whole fetch: no reopen, no one-connection pass', async () => {
    const s = await server();
    const inner = http(s);
    const broken = new DependencyError('https-proxy-agent', Object.assign(new Error("Cannot find package 'https-proxy-agent'"), { code: 'ERR_MODULE_NOT_FOUND' }));
    const opened: { offset: number; end?: number }[] = [];
    // the first piece's connection works; every other connection fails to load what it needs
    const source: Source = {
      ...inner,
      open: async (req) => {
        opened.push({ offset: req.offset, ...(req.end !== undefined ? { end: req.end } : {}) });
        if (opened.length > 1) throw broken;
        return inner.open(req);
      },
    };
    await expect(fetchRanged(await tempDir(), s, 3, source)).rejects.toBe(broken);
    expect(opened.length).toBeGreaterThan(1); // a second connection was tried
    const offsets = opened.map((o) => o.offset);
    expect(new Set(offsets).size).toBe(offsets.length); // no piece reopened
    expect(opened.every((o) => o.end !== undefined)).toBe(true); // no single-connection pass after the ranged one
    expect(s.requestsTo(P)).toHaveLength(1);
  });
});
