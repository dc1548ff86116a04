/**
 * Store.fetch under the run's lock (Store.open({ locked: true })) does not look again for a blob
 * its plan did not find; without the lock it does, and a blob another run placed meanwhile is
 * taken from the store, not fetched again.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { blobPath } from '../lib/layout.ts';
import { createFileSource } from '../lib/sources/file.ts';
import { Store } from '../lib/store/store.ts';
import { sha256, tempDir } from './helpers/cli.ts';

const A = 'student/v0_ja';

async function setUp() {
  const data = randomBytes(3000);
  const root = await tempDir();
  await fs.mkdir(path.join(root, A), { recursive: true });
  await fs.writeFile(path.join(root, A, 'f.bin'), data);
  const file = { path: 'f.bin', size: data.length, sha256: sha256(data) };
  return { root, file, source: createFileSource({ name: 'local', kind: 'file', base: root }) };
}

/** the lstats of `p` made while `work` runs */
async function lstatsOf(p: string, work: () => Promise<unknown>): Promise<number> {
  const lstat = fs.lstat;
  let n = 0;
  const spy = vi.spyOn(fs, 'lstat').mockImplementation(((q: string, opts?: object) => {
    if (String(q) === p) n++;
    return lstat(q, opts as never);
  }) as typeof fs.lstat);
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return n;
}

describe('Store.fetch and the run lock', () => {
  it('locked: the blob is not looked for before the fetch (one lstat: the one after it is placed)', async () => {
    const { file, source } = await setUp();
    const cacheDir = await tempDir();
    const store = await Store.open(cacheDir, { locked: true });
    const n = await lstatsOf(blobPath(cacheDir, file.sha256), () => store.fetch({ artifactId: A, file, sources: [source] }));
    expect(n).toBe(1);
  });

  it('not locked: it is looked for first, and a blob another run placed meanwhile is used, not fetched', async () => {
    const { file, source } = await setUp();
    const cacheDir = await tempDir();
    const store = await Store.open(cacheDir);
    const n = await lstatsOf(blobPath(cacheDir, file.sha256), () => store.fetch({ artifactId: A, file, sources: [source] }));
    expect(n).toBe(2);
    const other = await Store.open(cacheDir);
    const again = await other.fetch({ artifactId: A, file, sources: [source] });
    expect(again.source).toBe('store');
    expect(again.transferred).toBe(0);
  });
});
