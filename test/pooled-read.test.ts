/**
 * A large file from a folder source is read into buffers the writer gives back once their bytes
 * are written (lib/sources/pooled-read.ts): the bytes are exactly the range asked, a buffer is
 * read into again only after it was given back, and the file is closed however the stream ends.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHUNK, readPooled } from '../lib/sources/pooled-read.ts';
import { BlobWriter, pipeToWriter } from '../lib/store/blob-writer.ts';
import { tempDir } from './helpers/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function fileOf(data: Buffer): Promise<string> {
  const file = path.join(await tempDir(), 'shard.bin');
  await fs.writeFile(file, data);
  return file;
}

/** Every chunk of the stream, as it arrived (the Buffer objects, not copies). */
async function chunksOf(stream: NodeJS.ReadableStream): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of stream) out.push(c as Buffer);
  return out;
}

describe('readPooled', () => {
  it('gives exactly bytes [start, end) of the file and closes it at the end', async () => {
    const data = randomBytes(3 * CHUNK + 4321);
    const handle = await fs.open(await fileOf(data), 'r');
    const { stream } = readPooled(handle, { start: 777, end: data.length });
    const got = Buffer.concat(await chunksOf(stream));
    expect(got.equals(data.subarray(777))).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(handle.fd).toBe(-1);
  });

  it('reads into a buffer again only once it was given back, also for the next file', async () => {
    const a = randomBytes(4 * CHUNK);
    const b = randomBytes(4 * CHUNK);
    const first = readPooled(await fs.open(await fileOf(a), 'r'), { start: 0, end: a.length });
    const held = await chunksOf(first.stream);
    // none given back yet: four buffers of their own
    expect(new Set(held.map((c) => c.buffer)).size).toBe(4);
    const copies = held.map((c) => Buffer.from(c));
    for (const c of held) first.recycle(c);

    const second = readPooled(await fs.open(await fileOf(b), 'r'), { start: 0, end: b.length });
    const again = await chunksOf(second.stream);
    // the second file's bytes are its own, read into the buffers the first one gave back
    expect(Buffer.concat(again).equals(b)).toBe(true);
    expect(again.filter((c) => held.some((h) => h.buffer === c.buffer)).length).toBeGreaterThan(0);
    // and what was copied out of the first file before giving its buffers back is still the first file
    expect(Buffer.concat(copies).equals(a)).toBe(true);
  });

  it('closes the file when destroyed half-way, and an abort ends it with an AbortError', async () => {
    const data = randomBytes(5 * CHUNK);
    const handle = await fs.open(await fileOf(data), 'r');
    const ac = new AbortController();
    const { stream } = readPooled(handle, { start: 0, end: data.length, signal: ac.signal });
    const failed = new Promise<Error>((resolve) => stream.on('error', resolve));
    stream.once('data', () => ac.abort());
    stream.resume();
    expect((await failed).name).toBe('AbortError');
    if (!stream.closed) await new Promise((r) => stream.on('close', r));
    expect(handle.fd).toBe(-1);
  });

  it('an abort while a read never returns (a hung mount) ends the stream at once; the file is closed once the read returns, nothing read late is given out', async () => {
    const data = randomBytes(4 * CHUNK);
    const file = await fileOf(data);
    const fifo = path.join(path.dirname(file), 'hung');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // a process of its own: its only libuv thread is blocked in the kernel (test/helpers/pooled-read-hung-child.ts)
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/pooled-read-hung-child.ts'), file, fifo], {
      cwd: ROOT, env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const r = JSON.parse(out) as {
      chunksBeforeAbort: number;
      atAbort: { consumerError?: string; consumerClosed: boolean; streamClosed: boolean; fdOpen: boolean; stuck: number };
      afterRelease: { settled: boolean; stuck: number; fd: number; chunksAfterAbort: number; prefixOfFile: boolean };
    };
    expect(r.chunksBeforeAbort).toBe(0); // the read was hung
    // at once: the consumer has the abort, not the stall bound's ESTALLED 30 s later; the file
    // stays open while the read is in the kernel, and its close is counted as left running
    expect(r.atAbort).toEqual({ consumerError: 'AbortError', consumerClosed: true, streamClosed: true, fdOpen: true, stuck: 1 });
    // once the read returns: the file is closed, nothing is left running, and its bytes went nowhere
    expect(r.afterRelease).toEqual({ settled: true, stuck: 0, fd: -1, chunksAfterAbort: 0, prefixOfFile: true });
  });

  it('through a BlobWriter: each chunk comes back only once its bytes are in the file, and the copy verifies', async () => {
    const data = randomBytes(9 * CHUNK + 99);
    const src = await fs.open(await fileOf(data), 'r');
    const outFile = path.join(await tempDir(), 'blob.partial');
    const out = await fs.open(outFile, 'w+');
    const w = await BlobWriter.open(out, data.length);
    const pooled = readPooled(src, { start: 0, end: data.length });
    const offsetOf = new Map<Buffer, number>();
    let returned = 0;
    let notYetWritten = 0;
    await pipeToWriter(pooled.stream, w, {
      onChunk: (chunk) => offsetOf.set(chunk, w.pos - chunk.length),
      recycle: (chunk) => {
        returned++;
        const inFile = Buffer.alloc(chunk.length);
        readSync(out.fd, inFile, 0, chunk.length, offsetOf.get(chunk)!);
        if (!inFile.equals(chunk)) notYetWritten++;
        pooled.recycle(chunk);
      },
    });
    expect(await w.digest()).toBe(createHash('sha256').update(data).digest('hex'));
    await w.close();
    await out.close();
    expect(returned).toBe(10);
    expect(notYetWritten).toBe(0);
    expect((await fs.readFile(outFile)).equals(data)).toBe(true);
  });
});
