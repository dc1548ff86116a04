/**
 * Small blobs received into memory (lib/store/memory-blob.ts): verified before anything is
 * written, written once to a read-only file, fsynced before it gets its store name; partials
 * left by earlier runs are still resumed, and an interrupted one still leaves a partial.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AllSourcesFailedError, IntegrityError } from '../lib/errors.ts';
import { blobPath, storeTmpDir } from '../lib/layout.ts';
import type { FileEntry } from '../lib/manifest/schema.ts';
import type { Source } from '../lib/sources/types.ts';
import { fetchBlob } from '../lib/store/fetch-blob.ts';
import { MEMORY_BLOB_MAX } from '../lib/store/memory-blob.ts';
import { Store } from '../lib/store/store.ts';
import { sha256, tempDir } from './helpers/cli.ts';
import { fastHttp, useFaultServers } from './helpers/fetch-servers.ts';

const serve = useFaultServers();
afterEach(() => vi.restoreAllMocks());

const P = '/a/v1/small.bin';
const data = randomBytes(100_000);
const entry: FileEntry = { path: 'small.bin', size: data.length, sha256: sha256(data) };

const server = (files: Record<string, Buffer> = { [P]: data }) => serve(files);
const http = fastHttp;

/** a source that sends `bytes` whatever is asked */
function fixed(name: string, bytes: Buffer): Source {
  return { name, kind: 'http', display: name, open: async () => ({ start: 0, stream: Readable.from([bytes]) }) };
}

const base = { artifactId: 'a/v1', reopenDelayMs: 10, partialMinAgeMs: 0 };

describe('small blobs in memory', () => {
  it('nothing is written before the sha256 matched; then the right bytes, read-only, no temp file left', async () => {
    expect(data.length).toBeLessThan(MEMORY_BLOB_MAX);
    const s = await server();
    s.fault(P, { cutAfter: 40_000 }); // a resume from the bytes held in memory
    const cache = await tempDir();
    let atVerified: string[] | undefined;
    const r = await fetchBlob({ ...base, cacheDir: cache, file: entry, sources: [http(s)], onVerified: () => (atVerified = readdirSync(storeTmpDir(cache))) });
    expect(atVerified).toEqual([]);
    expect(s.requestsTo(P).map((q) => q.headers.range)[1]).toMatch(/^bytes=\d+-$/);
    expect(r).toMatchObject({ source: 'mirror', transferred: data.length, resumedFrom: 0 });
    expect((await fs.readFile(blobPath(cache, entry.sha256))).equals(data)).toBe(true);
    expect((await fs.stat(r.blob)).mode & 0o777).toBe(0o444);
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  it('wrong bytes: the next source; from every source: the integrity error, nothing in the store or <cache>/tmp', async () => {
    const bad = Buffer.from(data);
    bad[5] = bad[5]! ^ 1;
    const cache = await tempDir();
    const r = await fetchBlob({ ...base, cacheDir: cache, file: entry, sources: [fixed('bad', bad), fixed('good', data)] });
    expect(r.source).toBe('good');
    expect((await fs.readFile(r.blob)).equals(data)).toBe(true);

    const cache2 = await tempDir();
    const err = await fetchBlob({ ...base, cacheDir: cache2, file: entry, sources: [fixed('bad', bad)] }).catch((e) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toContain(`expected ${entry.sha256}`);
    await expect(fs.access(blobPath(cache2, entry.sha256))).rejects.toThrow();
    expect(await fs.readdir(storeTmpDir(cache2))).toEqual([]);
  });

  it('a source that sends more than the manifest size fails with ESIZE at once (no retry) and leaves nothing', async () => {
    const cache = await tempDir();
    let opened = 0;
    const tooMuch: Source = { ...fixed('big', Buffer.concat([data, Buffer.from('x')])), open: async () => (opened++, { start: 0, stream: Readable.from([data, Buffer.from('x')]) }) };
    const err = await fetchBlob({ ...base, cacheDir: cache, file: entry, sources: [tooMuch] }).catch((e) => e);
    expect(err).toBeInstanceOf(AllSourcesFailedError);
    expect(err.message).toMatch(/more than the manifest size/);
    expect(opened).toBe(1);
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  it('an abandoned partial of a small blob is still claimed and resumed (Store: from the run listing)', async () => {
    const s = await server();
    const cache = await tempDir();
    const store = await Store.open(cache);
    const tmp = storeTmpDir(cache);
    await fs.mkdir(tmp, { recursive: true });
    await fs.writeFile(path.join(tmp, `${entry.sha256}.1.earlier.partial`), data.subarray(0, 30_000));
    const r = await store.fetch({ ...base, file: entry, sources: [http(s)] });
    expect(r).toMatchObject({ resumedFrom: 30_000, transferred: data.length - 30_000 });
    expect((await fs.readFile(r.blob)).equals(data)).toBe(true);
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  it('interrupted: what arrived is left as a partial with its validator, and the next run resumes it', async () => {
    const s = await server();
    s.fault(P, { cutAfter: 60_000, headers: { etag: '"v1"' } });
    const cache = await tempDir();
    await expect(fetchBlob({ ...base, cacheDir: cache, file: entry, sources: [http(s)], maxStalledReopens: 0 })).rejects.toThrow();
    const left = (await fs.readdir(storeTmpDir(cache))).sort();
    expect(left.map((n) => n.replace(/^[0-9a-f]+\..*\.partial/, 'X.partial'))).toEqual(['X.partial', 'X.partial.validator']);
    const kept = await fs.readFile(path.join(storeTmpDir(cache), left[0]!));
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.equals(data.subarray(0, kept.length))).toBe(true);

    s.fault(P, { headers: { etag: '"v1"' } });
    const r = await fetchBlob({ ...base, cacheDir: cache, file: entry, sources: [http(s)] });
    expect(r.resumedFrom).toBe(kept.length);
    expect(s.requestsTo(P).at(-1)?.headers['if-range']).toBe('"v1"');
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  it('the bytes are fsynced before the blob gets its store name', async () => {
    const cache = await tempDir();
    const events: string[] = [];
    const probe = await fs.open(path.join(cache, 'probe'), 'w');
    const handleProto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const sync = handleProto.sync;
    vi.spyOn(handleProto, 'sync').mockImplementation(async function (this: unknown) {
      await sync.call(this);
      events.push('fsync');
    });
    const link = fs.link;
    vi.spyOn(fs, 'link').mockImplementation(async (from, to) => {
      events.push(`link ${path.relative(cache, String(to)).split(path.sep)[0]}`);
      return link(from, to);
    });
    await fetchBlob({ ...base, cacheDir: cache, file: entry, sources: [fixed('good', data)] });
    // the blob's bytes, its store name, then the store folder (no deferDirSync here)
    expect(events).toEqual(['fsync', 'link sha256', 'fsync']);
  });
});
