/**
 * A small blob's sealed file is created 0444 (lib/store/memory-blob.ts): a umask that takes read
 * permission away still leaves a 0444 blob. Its own file: the umask is read once per process.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, expect, it } from 'vitest';
import type { Source } from '../lib/sources/types.ts';
import { fetchBlob } from '../lib/store/fetch-blob.ts';
import { sha256, tempDir } from './helpers/cli.ts';

const before = process.umask(0o277);
afterAll(() => void process.umask(before));

it('a umask of 0277 still gives a 0444 blob', async () => {
  const data = randomBytes(5000);
  const source: Source = { name: 'm', kind: 'http', display: 'm', open: async () => ({ start: 0, stream: Readable.from([data]) }) };
  const cache = await tempDir();
  const r = await fetchBlob({ cacheDir: cache, artifactId: 'a/v1', file: { path: 'x.bin', size: data.length, sha256: sha256(data) }, sources: [source] });
  expect((await fs.stat(r.blob)).mode & 0o777).toBe(0o444);
  expect((await fs.readFile(r.blob)).equals(data)).toBe(true);
});
