/**
 * The fetch engine against real loopback servers and real folders:
 * hash-while-streaming, resume, restart on 200, fallback, integrity.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, renameSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AllSourcesFailedError, DependencyError, ExitCode, IntegrityError } from '../lib/errors.ts';
import { blobPath, storeTmpDir } from '../lib/layout.ts';
import type { FileEntry } from '../lib/manifest/schema.ts';
import { createFileSource } from '../lib/sources/file.ts';
import type { Source } from '../lib/sources/types.ts';
import { fetchBlob } from '../lib/store/fetch-blob.ts';
import { RANGED_MIN_SIZE } from '../lib/store/fetch-ranges.ts';
import { Store } from '../lib/store/store.ts';
import { sha256, tempDir } from './helpers/cli.ts';
import { fastHttp, useFaultServers } from './helpers/fetch-servers.ts';

const server = useFaultServers();
const http = fastHttp;

const P = '/student/v0_ja/model.safetensors';
const data = randomBytes(256 * 1024 + 123);
const entry: FileEntry = { path: 'model.safetensors', size: data.length, sha256: sha256(data) };
const files = { [P]: data };


async function fetchInto(cacheDir: string, sources: Source[], onProgress?: (done: number) => void) {
  return fetchBlob({ cacheDir, artifactId: 'student/v0_ja', file: entry, sources, reopenDelayMs: 10, partialMinAgeMs: 0, onProgress: (p) => onProgress?.(p.done) });
}

describe('fetchBlob', () => {
  it('downloads, reports progress, verifies and places a read-only blob', async () => {
    const s = await server(files);
    const cache = await tempDir();
    const progress: number[] = [];
    const r = await fetchInto(cache, [http(s)], (d) => progress.push(d));
    expect(r).toMatchObject({ source: 'mirror', transferred: data.length, resumedFrom: 0 });
    expect(sha256(await fs.readFile(blobPath(cache, entry.sha256)))).toBe(entry.sha256);
    expect((await fs.stat(r.blob)).mode & 0o777).toBe(0o444);
    expect(progress.at(-1)).toBe(data.length);
    expect(progress.length).toBeGreaterThan(1);
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  for (const cutMode of ['fin', 'rst'] as const) {
    it(`resumes with Range after the server cuts the body (${cutMode})`, async () => {
      const s = await server(files);
      s.fault(P, { cutAfter: 100_000, cutMode });
      const cache = await tempDir();
      const r = await fetchInto(cache, [http(s)]);
      expect(sha256(await fs.readFile(r.blob))).toBe(entry.sha256);
      const ranges = s.requestsTo(P).map((q) => q.headers.range);
      expect(ranges[0]).toBeUndefined();
      // the second request continues where the first stopped (the client may have received a little less than was sent)
      expect(ranges[1]).toMatch(/^bytes=\d+-$/);
      const start = Number(/bytes=(\d+)-/.exec(ranges[1]!)![1]);
      expect(start).toBeGreaterThan(0);
      expect(start).toBeLessThanOrEqual(100_000);
      expect(r.transferred).toBe(data.length);
    });
  }

  it('resumes a partial left by an earlier run, re-hashing its prefix', async () => {
    const s = await server(files);
    const cache = await tempDir();
    await fs.mkdir(storeTmpDir(cache), { recursive: true });
    await fs.writeFile(path.join(storeTmpDir(cache), `${entry.sha256}.1234.abcdef.partial`), data.subarray(0, 150_000));
    const r = await fetchInto(cache, [http(s)]);
    expect(r.resumedFrom).toBe(150_000);
    expect(r.transferred).toBe(data.length - 150_000);
    expect(s.requestsTo(P).map((q) => q.headers.range)).toEqual(['bytes=150000-']);
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  it('never trusts a wrong partial prefix: restarts from zero when the result does not verify', async () => {
    const s = await server(files);
    const cache = await tempDir();
    await fs.mkdir(storeTmpDir(cache), { recursive: true });
    await fs.writeFile(path.join(storeTmpDir(cache), `${entry.sha256}.1.bad.partial`), randomBytes(150_000));
    const r = await fetchInto(cache, [http(s)]);
    expect(sha256(await fs.readFile(r.blob))).toBe(entry.sha256);
    expect(s.requestsTo(P).map((q) => q.headers.range)).toEqual(['bytes=150000-', undefined]);
  });

  it('starts over when the server answers a Range request with 200', async () => {
    const s = await server(files);
    s.fault(P, { ignoreRange: true });
    const cache = await tempDir();
    await fs.mkdir(storeTmpDir(cache), { recursive: true });
    await fs.writeFile(path.join(storeTmpDir(cache), `${entry.sha256}.1.x.partial`), data.subarray(0, 1000));
    const r = await fetchInto(cache, [http(s)]);
    expect(s.requestsTo(P)).toHaveLength(1);
    expect(s.requestsTo(P)[0]!.headers.range).toBe('bytes=1000-');
    expect(r.transferred).toBe(data.length); // the whole file again, not prefix + whole file
    expect(sha256(await fs.readFile(r.blob))).toBe(entry.sha256);
  });

  it('retries a 503 and then succeeds', async () => {
    const s = await server(files);
    s.fault(P, { status: 503 }, 2);
    const cache = await tempDir();
    const r = await fetchInto(cache, [http(s)]);
    expect(s.requestsTo(P)).toHaveLength(3);
    expect(sha256(await fs.readFile(r.blob))).toBe(entry.sha256);
  });

  it('falls back from a failing HTTP source to a file source', async () => {
    const s = await server({});
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'student', 'v0_ja'), { recursive: true });
    await fs.writeFile(path.join(root, 'student', 'v0_ja', 'model.safetensors'), data);
    const cache = await tempDir();
    const r = await fetchInto(cache, [http(s), createFileSource({ name: 'nfs', kind: 'file', base: root })]);
    expect(r.source).toBe('nfs');
    expect(s.requestsTo(P)).toHaveLength(1); // 404 is not retried
  });

  it('names every source and why it failed when all fail (exit 3)', async () => {
    const s = await server({});
    const cache = await tempDir();
    const err = await fetchInto(cache, [http(s), createFileSource({ name: 'nfs', kind: 'file', base: path.join(cache, 'nope') })]).catch((e) => e);
    expect(err).toBeInstanceOf(AllSourcesFailedError);
    expect(err.exitCode).toBe(ExitCode.sources);
    expect(err.message).toContain('student/v0_ja/model.safetensors');
    expect(err.message).toMatch(/mirror.*404/);
    expect(err.message).toMatch(/nfs.*not (found|reachable)/);
    await expect(fs.access(blobPath(cache, entry.sha256))).rejects.toThrow();
  });

  it('a source that cannot load its library (a broken installation) ends the fetch at once: no reopen, no other source', async () => {
    const s = await server(files);
    const cache = await tempDir();
    const broken = new DependencyError('@aws-sdk/client-s3', Object.assign(new Error("Cannot find package '@aws-sdk/client-s3'"), { code: 'ERR_MODULE_NOT_FOUND' }));
    let opens = 0;
    const bucket: Source = {
      name: 'bucket',
      kind: 's3',
      display: 'bucket (s3://models/)',
      open: async () => {
        opens++;
        throw broken;
      },
    };
    await expect(fetchInto(cache, [bucket, http(s)])).rejects.toBe(broken);
    expect(opens).toBe(1);
    expect(s.requests).toEqual([]);
    await expect(fs.access(blobPath(cache, entry.sha256))).rejects.toThrow();
  });

  it('refuses corrupted bytes: nothing enters the store, no temp file stays, exit 4 names expected and actual', async () => {
    const s = await server(files);
    s.fault(P, { corrupt: [5000] }, 10);
    const cache = await tempDir();
    const err = await fetchInto(cache, [http(s)]).catch((e) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.exitCode).toBe(ExitCode.integrity);
    expect(err.message).toContain('student/v0_ja/model.safetensors');
    expect(err.message).toContain(`expected ${entry.sha256}`);
    expect(err.data.actual.sha256).toMatch(/^[0-9a-f]{64}$/);
    await expect(fs.access(blobPath(cache, entry.sha256))).rejects.toThrow();
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  it('onVerified fires once, after every byte matched and before the blob enters the store; never on corrupted bytes', async () => {
    const s = await server(files);
    const cache = await tempDir();
    const seen: { received: number; inStore: boolean }[] = [];
    let received = 0;
    await fetchBlob({
      cacheDir: cache,
      artifactId: 'student/v0_ja',
      file: entry,
      sources: [http(s)],
      onProgress: (p) => (received = p.done),
      onVerified: () => {
        seen.push({ received, inStore: existsSync(blobPath(cache, entry.sha256)) });
      },
    });
    expect(seen).toEqual([{ received: data.length, inStore: false }]);
    expect(existsSync(blobPath(cache, entry.sha256))).toBe(true);

    s.fault(P, { corrupt: [5000] }, 10);
    const other = await tempDir();
    let calls = 0;
    const err = await fetchBlob({ cacheDir: other, artifactId: 'student/v0_ja', file: entry, sources: [http(s)], onVerified: () => calls++ }).catch((e) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(calls).toBe(0);
  });

  it('a partial left by an earlier run keeps its validator: a file changed on the server since comes back whole at once (If-Range)', async () => {
    const stale = randomBytes(data.length); // what the server had when the first run was cut off
    const s = await server({ [P]: stale });
    s.fault(P, { headers: { etag: '"old"' }, cutAfter: 100_000 });
    const cache = await tempDir();
    const first = await fetchBlob({ cacheDir: cache, artifactId: 'student/v0_ja', file: entry, sources: [http(s)], reopenDelayMs: 10, maxStalledReopens: 0, partialMinAgeMs: 0 }).catch((e) => e);
    expect(first).toBeInstanceOf(AllSourcesFailedError);
    const left = await fs.readdir(storeTmpDir(cache));
    expect(left.filter((n) => n.endsWith('.partial'))).toHaveLength(1);
    expect(left.filter((n) => n.endsWith('.partial.validator'))).toHaveLength(1);

    // the server now has the right file, with a new ETag; a new run (new source, nothing in memory)
    s.setFile(P, data);
    s.fault(P, { headers: { etag: '"new"' } }, 5);
    const before = s.requestsTo(P).length;
    const r = await fetchInto(cache, [http(s)]);
    expect(r.transferred).toBe(data.length);
    // one request: the stale prefix was dropped on the server's word, not after a failed sha256
    expect(s.requestsTo(P).slice(before).map((q) => [q.headers.range, q.headers['if-range']])).toEqual([['bytes=100000-', '"old"']]);
    expect(sha256(await fs.readFile(blobPath(cache, entry.sha256)))).toBe(entry.sha256);
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]); // neither the partial nor its validator stays
  });

  it("an earlier run's validator goes only to the source it came from", async () => {
    const s = await server(files);
    s.fault(P, { headers: { etag: '"v1"' }, cutAfter: 100_000 });
    const cache = await tempDir();
    await fetchBlob({ cacheDir: cache, artifactId: 'student/v0_ja', file: entry, sources: [http(s, 'mirror')], reopenDelayMs: 10, maxStalledReopens: 0, partialMinAgeMs: 0 }).catch(() => {});
    const before = s.requestsTo(P).length;
    const r = await fetchInto(cache, [http(s, 'backup')]); // same bytes, another source name
    expect(r).toMatchObject({ source: 'backup', resumedFrom: 100_000, transferred: data.length - 100_000 });
    expect(s.requestsTo(P).slice(before).map((q) => [q.headers.range, q.headers['if-range']])).toEqual([['bytes=100000-', undefined]]);
  });

  it('refuses a symlink in a file source, and a symlinked folder that leaves the root', async () => {
    const root = await tempDir();
    const outside = await tempDir();
    await fs.writeFile(path.join(outside, 'model.safetensors'), data);
    await fs.mkdir(path.join(root, 'student', 'v0_ja'), { recursive: true });
    await fs.symlink(path.join(outside, 'model.safetensors'), path.join(root, 'student', 'v0_ja', 'model.safetensors'));
    const cache = await tempDir();
    const src = createFileSource({ name: 'nfs', kind: 'file', base: root });
    const err = await fetchInto(cache, [src]).catch((e) => e);
    expect(err).toBeInstanceOf(AllSourcesFailedError);
    expect(err.message).toMatch(/symlink: refused/);

    const root2 = await tempDir();
    await fs.mkdir(path.join(root2, 'student'), { recursive: true });
    await fs.symlink(outside, path.join(root2, 'student', 'v0_ja'));
    const err2 = await fetchInto(cache, [createFileSource({ name: 'nfs', kind: 'file', base: root2 })]).catch((e) => e);
    expect(err2.message).toMatch(/outside the source folder/);
    await expect(fs.access(blobPath(cache, entry.sha256))).rejects.toThrow();
  });

  it('a file source that remembered a folder notices it swapped for a link that leaves the root', async () => {
    const root = await tempDir();
    const outside = await tempDir();
    const dir = path.join(root, 'student', 'v0_ja');
    await fs.mkdir(dir, { recursive: true });
    const other = randomBytes(4000);
    const otherEntry: FileEntry = { path: 'other.bin', size: other.length, sha256: sha256(other) };
    await fs.writeFile(path.join(dir, 'model.safetensors'), data);
    await fs.writeFile(path.join(dir, 'other.bin'), other);
    const src = createFileSource({ name: 'nfs', kind: 'file', base: root });
    const cache = await tempDir();
    await fetchInto(cache, [src]); // the folder is remembered
    const fetchOther = () => fetchBlob({ cacheDir: cache, artifactId: 'student/v0_ja', file: otherEntry, sources: [src] });

    // the same folder moved out of the root, a link to it in its place
    await fs.rename(dir, path.join(outside, 'v0_ja'));
    await fs.symlink(path.join(outside, 'v0_ja'), dir);
    expect((await fetchOther().catch((e) => e)).message).toMatch(/outside the source folder/);

    // a real folder again (a new one, with the same file): used
    await fs.unlink(dir);
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'other.bin'), other);
    expect((await fetchOther()).source).toBe('nfs');
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  it('copies from a file source in one pass and verifies', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'student', 'v0_ja'), { recursive: true });
    await fs.writeFile(path.join(root, 'student', 'v0_ja', 'model.safetensors'), data);
    const cache = await tempDir();
    const r = await fetchInto(cache, [createFileSource({ name: 'nfs', kind: 'file', base: root })]);
    expect(r.source).toBe('nfs');
    expect(Buffer.compare(await fs.readFile(r.blob), data)).toBe(0);
  });
});

describe('partials and their records (issue 15: fewer file operations per blob)', () => {
  it('a large file records its validator as soon as its response starts; a fresh partial leaves nothing behind', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 7);
    const bigEntry: FileEntry = { path: 'model.safetensors', size: big.length, sha256: sha256(big) };
    const s = await server({ [P]: big });
    s.fault(P, { headers: { etag: '"v1"' } });
    const cache = await tempDir();
    let seenMidway: string[] | undefined;
    await fetchBlob({
      cacheDir: cache, artifactId: 'student/v0_ja', file: bigEntry, sources: [http(s)], partialMinAgeMs: 0,
      onProgress: (p) => {
        if (!seenMidway && p.done > 1024 * 1024 && p.done < big.length) seenMidway = readdirSync(storeTmpDir(cache));
      },
    });
    expect(seenMidway?.filter((n) => n.endsWith('.partial.validator'))).toHaveLength(1);
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  it("a Store reads <cache>/tmp once, and still resumes a partial from before the run and one it left itself", async () => {
    const big = randomBytes(2 * 1024 * 1024 + 11);
    const BP = '/student/v0_ja/big.bin';
    const bigEntry: FileEntry = { path: 'big.bin', size: big.length, sha256: sha256(big) };
    const s = await server({ ...files, [BP]: big });
    s.fault(P, { headers: { etag: '"v1"' }, cutAfter: 100_000 });
    const cache = await tempDir();
    // an earlier run cut off in the middle of the small file
    await fetchBlob({ cacheDir: cache, artifactId: 'student/v0_ja', file: entry, sources: [http(s)], reopenDelayMs: 10, maxStalledReopens: 0, partialMinAgeMs: 0 }).catch(() => {});
    s.fault(P, { headers: { etag: '"v1"' } }); // the resume below: the same file
    expect((await fs.readdir(storeTmpDir(cache))).sort().map((n) => n.replace(/^[0-9a-f]+\..*\.partial/, 'X.partial'))).toEqual(['X.partial', 'X.partial.validator']);

    const store = await Store.open(cache);
    const src = http(s);
    // this run: the large file is stopped half-way (a partial this run leaves), after <cache>/tmp was read
    s.fault(BP, { headers: { etag: '"b1"' } }, 2);
    const opts = { artifactId: 'student/v0_ja', sources: [src], reopenDelayMs: 10, maxStalledReopens: 0, partialMinAgeMs: 0 };
    const stop = new AbortController();
    const onProgress = (p: { done: number }) => {
      if (p.done >= 1_000_000) stop.abort(new Error('stopped'));
    };
    await expect(store.fetch({ ...opts, file: bigEntry, signal: stop.signal, onProgress })).rejects.toThrow('stopped');
    const small = await store.fetch({ ...opts, file: entry });
    expect(small).toMatchObject({ resumedFrom: 100_000, transferred: data.length - 100_000 });
    const again = await store.fetch({ ...opts, file: bigEntry });
    expect(again.resumedFrom).toBeGreaterThanOrEqual(1_000_000);
    expect(again.transferred).toBe(big.length - again.resumedFrom);
    expect(s.requestsTo(BP).at(-1)?.headers['if-range']).toBe('"b1"');
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([]);
  });

  it('a partial another run leaves in <cache>/tmp after this run read it: a big blob still resumes it, a small blob leaves it alone', async () => {
    // a big blob (RANGED_MIN_SIZE or more) looks for partials itself; a small one uses the run's listing
    const big = Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(RANGED_MIN_SIZE)]);
    const BP = '/student/v0_ja/big.bin';
    const bigEntry: FileEntry = { path: 'big.bin', size: big.length, sha256: sha256(big) };
    const other = randomBytes(200_000);
    const OP = '/student/v0_ja/other.bin';
    const otherEntry: FileEntry = { path: 'other.bin', size: other.length, sha256: sha256(other) };
    const s = await server({ ...files, [BP]: big, [OP]: other });
    const cache = await tempDir();
    const store = await Store.open(cache);
    const opts = { artifactId: 'student/v0_ja', sources: [http(s)], reopenDelayMs: 10, maxStalledReopens: 0, partialMinAgeMs: 0 };
    expect(await store.fetch({ ...opts, file: entry })).toMatchObject({ resumedFrom: 0 }); // <cache>/tmp read now
    // then another run, killed, leaves partials of both (names of no process of this host: abandoned at once here)
    const tmp = storeTmpDir(cache);
    await fs.writeFile(path.join(tmp, `${bigEntry.sha256}.1.later.partial`), big.subarray(0, 3_000_000));
    const otherPartial = path.join(tmp, `${otherEntry.sha256}.1.later.partial`);
    await fs.writeFile(otherPartial, other.subarray(0, 50_000));
    const bigResult = await store.fetch({ ...opts, file: bigEntry });
    expect(bigResult).toMatchObject({ resumedFrom: 3_000_000, transferred: big.length - 3_000_000 });
    expect(sha256(await fs.readFile(blobPath(cache, bigEntry.sha256)))).toBe(bigEntry.sha256);
    // the small one is fetched whole under a name of its own: the later partial is not seen, and not touched
    expect(await store.fetch({ ...opts, file: otherEntry })).toMatchObject({ resumedFrom: 0, transferred: other.length });
    expect(sha256(await fs.readFile(blobPath(cache, otherEntry.sha256)))).toBe(otherEntry.sha256);
    expect(await fs.readdir(tmp)).toEqual([path.basename(otherPartial)]);
    expect((await fs.readFile(otherPartial)).equals(other.subarray(0, 50_000))).toBe(true);
  });

  it('a partial another process took over (renamed away) before the move into the store: fetched again in a fresh one', async () => {
    const s = await server(files);
    const cache = await tempDir();
    let taken = '';
    const r = await fetchBlob({
      cacheDir: cache, artifactId: 'student/v0_ja', file: entry, sources: [http(s)], partialMinAgeMs: 0,
      onVerified: () => {
        if (taken) return;
        const name = readdirSync(storeTmpDir(cache)).find((n) => n.endsWith('.partial'))!;
        taken = path.join(storeTmpDir(cache), `${name}.taken`);
        renameSync(path.join(storeTmpDir(cache), name), taken);
      },
    });
    expect(r.transferred).toBe(2 * data.length);
    expect(sha256(await fs.readFile(blobPath(cache, entry.sha256)))).toBe(entry.sha256);
    expect(await fs.readdir(storeTmpDir(cache))).toEqual([path.basename(taken)]); // the other process's, untouched
  });
});
