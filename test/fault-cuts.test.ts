/**
 * A body cut at any byte of any file never crashes the process: for files of 0, 1, 52 bytes,
 * 64 KiB and 3 MiB, the server cuts the connection (FIN or RST) before the headers, inside them,
 * right after them, and at seeded offsets of the body. Every cut is resumed (or retried) like
 * any other and the verified file is installed. The server sends an ETag, as real ones do: a
 * resume then records the validator on disk, and a small body can fail meanwhile (the crash of
 * issue 9 item 7: `Unhandled 'error' event` ETRUNCATED). One case runs the real CLI process.
 */
import { spawn } from 'node:child_process';
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostFilePath } from '../lib/layout.ts';
import type { FileEntry } from '../lib/manifest/schema.ts';
import { createHttpSource } from '../lib/sources/http/source.ts';
import { fetchBlob } from '../lib/store/fetch-blob.ts';
import { materialiseFile } from '../lib/store/materialise.ts';
import { ensureRealDir } from '../lib/fs-safe.ts';
import { manifestYaml, tempProject } from './helpers/cli.ts';
import { expectCleanState, sha256, type ExpectedFile } from './helpers/fault-state.ts';
import { BIN } from './helpers/real-cli.ts';
import { prng, randomData } from './helpers/seeded.ts';
import { startFaultServer, type Fault, type FaultServer } from './helpers/with-server.ts';


const servers: FaultServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const ID = 'cut/model';
const ETAG = { etag: '"v1"' };

/** Close the connection before any byte of the answer. */
const closeBeforeHeaders = (mode: 'fin' | 'rst'): Fault =>
  mode === 'rst'
    ? { resetBeforeHeaders: true }
    : {
        handler: (_req: http.IncomingMessage, res: http.ServerResponse) => {
          res.socket?.end();
        },
      };

/** Send the first half of the status line and headers, then close. */
const cutInsideHeaders = (size: number, mode: 'fin' | 'rst'): Fault => ({
  handler: (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = res.socket as net.Socket;
    const head = `HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\netag: "v1"\r\naccept-ranges: bytes\r\n\r\n`;
    socket.write(head.slice(0, Math.floor(head.length / 2)), () => {
      if (mode === 'rst') socket.resetAndDestroy();
      else socket.end();
    });
  },
});

interface Cut {
  label: string;
  fault: Fault;
}

function cutsFor(size: number, rnd: () => number): Cut[] {
  const cuts: Cut[] = [];
  for (const mode of ['fin', 'rst'] as const) {
    cuts.push({ label: `${mode} before the headers`, fault: closeBeforeHeaders(mode) });
    cuts.push({ label: `${mode} inside the headers`, fault: cutInsideHeaders(size, mode) });
    if (size === 0) continue;
    const offsets = new Set([0, 1, size - 1, Math.floor(size / 2)]);
    for (let i = 0; i < 4; i++) offsets.add(Math.floor(rnd() * size));
    for (const at of [...offsets].filter((o) => o < size).sort((a, b) => a - b)) {
      cuts.push({ label: `${mode} after ${at} body bytes`, fault: { cutAfter: at, cutMode: mode, headers: ETAG } });
    }
  }
  return cuts;
}

describe('a body cut at any byte is resumed, never a crash', () => {
  const rnd = prng(20261130);
  const SIZES = [0, 1, 52, 64 * 1024, 3 * 1024 * 1024];
  for (const size of SIZES) {
    const file: ExpectedFile = { id: ID, path: `f${size}.bin`, data: randomData(size, rnd) };
    const entry: FileEntry = { path: file.path, size, sha256: sha256(file.data) };
    const url = `/${ID}/${file.path}`;
    const cuts = cutsFor(size, rnd);
    it(`${size} bytes: ${cuts.length} cuts (FIN and RST, headers and seeded body offsets), each resumed and installed`, async () => {
      const s = await startFaultServer({ files: { [url]: file.data } });
      servers.push(s);
      for (const cut of cuts) {
        // the cut, then the file (with the same ETag, so a Range resume is honoured)
        s.setFaults({ [url]: [cut.fault, { headers: ETAG }] });
        const before = s.requestsTo(url).length;
        const p = await tempProject('version: 1\n');
        const source = createHttpSource({ name: 'mirror', kind: 'http', base: s.url }, { retry: { limit: 2, baseDelayMs: 5, maxDelayMs: 20 } });
        const r = await fetchBlob({ cacheDir: p.cacheDir, artifactId: ID, file: entry, sources: [source], reopenDelayMs: 5, partialMinAgeMs: 0 }).catch(
          (err: Error) => err,
        );
        expect(r instanceof Error ? `${cut.label}: ${r.message}` : 'installed', cut.label).toBe('installed');
        if (r instanceof Error) continue;
        expect(s.requestsTo(url).length - before, `${cut.label}: the cut happened and was followed by another request`).toBeGreaterThanOrEqual(2);
        await ensureRealDir(p.hostDir, ID);
        await materialiseFile(p.hostDir, r.blob, hostFilePath(p.hostDir, ID, file.path), entry);
        await expectCleanState(p, [file], { installed: true });
      }
    }, 60_000);
  }
});

describe('the real process', () => {
  it('a 52-byte file cut (RST) after 20 bytes under a full Content-Length: exit 0, installed, no stack trace', async () => {
    const small: ExpectedFile = { id: ID, path: 'config.json', data: Buffer.from('{"architectures":["Small"],"model_type":"tiny_xy"}\n\n') };
    expect(small.data.length).toBe(52);
    const url = `/${ID}/${small.path}`;
    const s = await startFaultServer({ files: { [url]: small.data } });
    servers.push(s);
    s.setFaults({ [url]: [{ cutAfter: 20, cutMode: 'rst', headers: ETAG }, { headers: ETAG }] });
    const p = await tempProject(manifestYaml({ artifacts: [{ id: ID, files: [{ path: small.path, data: small.data }] }], sources: [{ name: 'mirror', url: s.url }] }));
    const child = spawn(process.execPath, [BIN, 'update', '--manifest', p.manifest, '--json'], {
      cwd: path.dirname(p.manifest),
      env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(out).not.toMatch(/Unhandled|\n\s+at /);
    expect(code).toBe(0);
    await expectCleanState(p, [small], { installed: true });
  }, 60_000);
});
