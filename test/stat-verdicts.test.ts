/** The per-file look of a cached verify in one worker (lib/verify/stat-verdicts.ts, issue 15). */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Artifact } from '../lib/manifest/schema.ts';
import { StateCache, statIdentity } from '../lib/verify/state-cache.ts';
import { STAT_WORKER_MIN, statVerdicts, VERDICT } from '../lib/verify/stat-verdicts.ts';
import { cacheKey, checkHostFiles, joinPlain } from '../lib/verify/verify-files.ts';
import { stallDeadline } from '../lib/fs-safe.ts';
import fc from 'fast-check';
import { stuckOperationsSettled } from '../lib/stall.ts';
import { tempDir } from './helpers/cli.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const cols = (list: { path: string; size: number; id: string }[]) => ({ paths: list.map((q) => q.path), sizes: list.map((q) => q.size), ids: list.map((q) => q.id) });

describe('statVerdicts', () => {
  it('vouches only for a regular file of the wanted size with exactly the recorded identity', async () => {
    const dir = await tempDir();
    const file = (n: string) => path.join(dir, n);
    for (const n of ['same', 'touched', 'resized', 'linked-to']) await fs.writeFile(file(n), 'abcd');
    await fs.symlink(file('linked-to'), file('link'));
    await fs.writeFile(file('plain-file'), 'x');
    const id = async (n: string) => statIdentity(await fs.lstat(file(n), { bigint: true }));
    const ids = { same: await id('same'), touched: await id('touched'), resized: await id('resized'), link: statIdentity(await fs.stat(file('link'), { bigint: true })) };
    await fs.utimes(file('touched'), new Date(2000, 1, 1), new Date(2000, 1, 1)); // same bytes, other mtime: no longer vouched for
    const verdicts = await statVerdicts(cols([
      { path: file('same'), size: 4, id: ids.same },
      { path: file('touched'), size: 4, id: ids.touched },
      { path: file('resized'), size: 5, id: ids.resized }, // the manifest wants another size
      { path: file('same'), size: 4, id: '' }, // no entry
      { path: file('link'), size: 4, id: ids.link }, // a link is never followed, whatever its target's identity
      { path: file('gone'), size: 4, id: ids.same },
      { path: path.join(file('plain-file'), 'below'), size: 4, id: ids.same }, // ENOTDIR
      { path: dir, size: 4096, id: await id('same') }, // a folder
    ]), { deadline: stallDeadline('Checking the files in', dir, { folder: 'host' }) });
    expect([...verdicts!]).toEqual([VERDICT.cached, VERDICT.look, VERDICT.look, VERDICT.look, VERDICT.look, VERDICT.missing, VERDICT.missing, VERDICT.look]);
  });

  it('rejects with the abort reason when the run is aborted, already or while the worker looks', async () => {
    const dir = await tempDir();
    const q = cols([{ path: path.join(dir, 'x'), size: 1, id: '' }]);
    await expect(statVerdicts(q, { deadline: stallDeadline('Checking the files in', dir, { folder: 'host', signal: AbortSignal.abort(new Error('stop now')) }) })).rejects.toThrow('stop now');
    const ac = new AbortController();
    const p = statVerdicts(q, { deadline: stallDeadline('Checking the files in', dir, { folder: 'host', signal: ac.signal }) });
    ac.abort(new Error('stopped'));
    await expect(p).rejects.toThrow('stopped');
  });
});

/** `n` files f0… of artifact "a" in `host`, file i holding body(i); returns their manifest entries. */
async function writeFiles(host: string, n: number, body: (i: number) => string): Promise<{ path: string; size: number; sha256: string }[]> {
  await fs.mkdir(path.join(host, 'a'), { recursive: true });
  const files = [];
  for (let i = 0; i < n; i++) {
    await fs.writeFile(path.join(host, 'a', `f${i}`), body(i));
    files.push({ path: `f${i}`, size: body(i).length, sha256: sha(body(i)) });
  }
  return files;
}

/** A host folder with `n` files of artifact "a", all recorded in its state cache (saved). */
async function cachedHost(n: number): Promise<{ host: string; artifacts: Artifact[] }> {
  const host = await tempDir();
  const files = await writeFiles(host, n, (i) => `body ${i}`);
  const artifacts = [{ id: 'a', files }] as unknown as Artifact[];
  const cache = await StateCache.loadHost(host);
  await checkHostFiles(host, artifacts, cache, { jobs: 2 });
  await cache.save();
  return { host, artifacts };
}

describe('checkHostFiles with many files (the worker settles what the cache vouches for)', () => {
  it('reports a changed, a missing, a replaced-by-link and a resized file; the rest come from the cache', async () => {
    const host = await tempDir();
    const n = STAT_WORKER_MIN + 10;
    const files = await writeFiles(host, n, (i) => `file ${String(i).padStart(5, '0')}`);
    const artifacts = [{ id: 'a', files }] as unknown as Artifact[];
    const cache = await StateCache.loadHost(host);
    const first = await checkHostFiles(host, artifacts, cache, { jobs: 2 });
    expect(first.every((c) => c.status === 'ok' && !c.cached)).toBe(true);
    await cache.save();

    const again = await checkHostFiles(host, artifacts, await StateCache.loadHost(host), { jobs: 2 });
    expect(again.every((c) => c.status === 'ok' && c.cached)).toBe(true);

    await fs.writeFile(path.join(host, 'a', 'f3'), 'file 9999x'); // same size, other bytes
    await fs.rm(path.join(host, 'a', 'f4'));
    await fs.rm(path.join(host, 'a', 'f5'));
    await fs.symlink(path.join(host, 'a', 'f6'), path.join(host, 'a', 'f5'));
    await fs.appendFile(path.join(host, 'a', 'f7'), 'more');
    const seen: string[] = [];
    const cache2 = await StateCache.loadHost(host);
    const after = await checkHostFiles(host, artifacts, cache2, { jobs: 2, onFile: (c) => seen.push(c.path) });
    expect(after.map((c) => c.path)).toEqual(files.map((f) => f.path));
    expect(seen.sort()).toEqual(files.map((f) => f.path).sort());
    const status = Object.fromEntries(after.map((c) => [c.path, c.status]));
    expect([status.f3, status.f4, status.f5, status.f7]).toEqual(['modified', 'missing', 'not-regular', 'size']);
    expect(after.filter((c) => c.status !== 'ok').length).toBe(4);
    expect(after.find((c) => c.path === 'f3')?.cached).toBeFalsy();
    expect(after.filter((c) => c.cached).length).toBe(n - 4);
    // the changed file's new hash is recorded for its new identity
    const st = await fs.lstat(path.join(host, 'a', 'f3'), { bigint: true });
    expect(cache2.lookup(cacheKey('a', 'f3'), st)).toBe(sha('file 9999x'));
  });

  it('an artifact folder gone since the cache was written: every file missing, settled by the worker', async () => {
    const { host, artifacts } = await cachedHost(STAT_WORKER_MIN + 1);
    await fs.rename(path.join(host, 'a'), path.join(host, 'gone'));
    const after = await checkHostFiles(host, artifacts, await StateCache.loadHost(host), { jobs: 2 });
    expect(after.map((c) => c.status)).toEqual(artifacts[0]!.files.map(() => 'missing'));
  });

  it('a cache entry that says other bytes than the manifest wants is "modified"', async () => {
    const host = await tempDir();
    const files = await writeFiles(host, STAT_WORKER_MIN, (i) => `b${i}`);
    const cache = StateCache.none();
    for (const f of files) cache.record(cacheKey('a', f.path), await fs.lstat(path.join(host, 'a', f.path), { bigint: true }), f.path === 'f1' ? '1'.repeat(64) : f.sha256);
    const checks = await checkHostFiles(host, [{ id: 'a', files }] as unknown as Artifact[], cache, { jobs: 2 });
    expect(checks.filter((c) => c.status !== 'ok').map((c) => [c.path, c.status, c.cached])).toEqual([['f1', 'modified', true]]);
  });
});

const helper = (name: string) => new URL(`./helpers/${name}`, import.meta.url);

describe('checkHostFiles when the stat worker is silent, slow or cannot start', () => {
  it('a worker that goes silent is a stall naming the host folder (exit 5); nothing is looked at again on the main thread', async () => {
    const { host, artifacts } = await cachedHost(STAT_WORKER_MIN);
    const seen: string[] = [];
    const err = await checkHostFiles(host, artifacts, await StateCache.loadHost(host), {
      jobs: 2,
      idleMs: 300,
      statWorkerUrl: helper('stat-worker-silent.mjs'),
      onFile: (c) => seen.push(c.path),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
    expect((err as Error).message).toContain(host);
    expect((err as { hint?: string }).hint).toMatch(/remount/);
    expect(seen).toEqual([]); // no verdict at all: the main thread did not look at the files itself
    expect(await stuckOperationsSettled(10_000)).toBe(true); // the silent worker was terminated
  });

  it('a worker that reports progress steadily for longer than the idle bound is waited for', async () => {
    const { host, artifacts } = await cachedHost(STAT_WORKER_MIN);
    const checks = await checkHostFiles(host, artifacts, await StateCache.loadHost(host), {
      jobs: 2,
      idleMs: 1000,
      statWorkerUrl: helper('stat-worker-slow.mjs'),
    });
    expect(checks.every((c) => c.status === 'ok' && c.cached)).toBe(true);
  });

  it('a worker that cannot start: the files are looked at on the main thread, with the same verdicts', async () => {
    const { host, artifacts } = await cachedHost(STAT_WORKER_MIN);
    await fs.rm(path.join(host, 'a', 'f1'));
    const checks = await checkHostFiles(host, artifacts, await StateCache.loadHost(host), {
      jobs: 2,
      idleMs: 1000,
      statWorkerUrl: helper('no-such-worker.mjs'),
    });
    expect(checks.filter((c) => c.status !== 'ok').map((c) => [c.path, c.status])).toEqual([['f1', 'missing']]);
    expect(checks.filter((c) => c.cached).length).toBe(STAT_WORKER_MIN - 1);
  });
});

describe('joinPlain', () => {
  it('is path.join for a normalised folder and any relative path', () => {
    for (const rel of ['a', 'a/b.bin', './a', 'a/./b', 'a/../b', '../x', 'a//b', '/abs', 'a/', '', '.', '..', '.hidden/x', 'a/..b', '...']) {
      expect(joinPlain('/h/art', rel)).toBe(path.join('/h/art', rel));
      expect(joinPlain('/', rel)).toBe(path.join('/', rel));
    }
    fc.assert(fc.property(fc.array(fc.constantFrom('a', '.', '..', '', 'b.c', '..d', '/'), { maxLength: 6 }), (parts) => joinPlain('/h/x', parts.join('/')) === path.join('/h/x', parts.join('/'))), { numRuns: 2000 });
  });
});
