/**
 * Memory blobs share one budget per process (64 MiB): artifacts install in parallel and a verified
 * blob waits for its write and fsync after its transfer slot is free, so "64 files per artifact"
 * alone did not bound them. Past the budget a small blob goes to a partial file. Its own file: the
 * budget is per process.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import type { BlobSink } from '../lib/store/blob-sink.ts';
import { MemoryBlob, MEMORY_BLOB_MAX, openSink } from '../lib/store/memory-blob.ts';
import { PartialBlob } from '../lib/store/partial.ts';
import { tempDir } from './helpers/cli.ts';

it('past 64 MiB held in memory, a small blob is fetched in a partial file; a closed memory blob frees its share', async () => {
  const tmp = path.join(await tempDir(), 'tmp');
  await fs.mkdir(tmp);
  const size = MEMORY_BLOB_MAX - 1;
  const file = (i: number) => ({ path: `f${i}`, size, sha256: createHash('sha256').update(String(i)).digest('hex') });
  const open: BlobSink[] = [];
  const budget = Math.floor((64 * 1024 * 1024) / size);
  for (let i = 0; i < budget; i++) open.push(await openSink(tmp, file(i), { rangedMinSize: 64 * 1024 * 1024 }));
  expect(open.every((s) => s instanceof MemoryBlob)).toBe(true);
  const over = await openSink(tmp, file(budget), { rangedMinSize: 64 * 1024 * 1024 });
  expect(over).toBeInstanceOf(PartialBlob);
  over.worthKeeping = false;
  await over.close();
  await open.pop()!.close();
  const again = await openSink(tmp, file(budget + 1), { rangedMinSize: 64 * 1024 * 1024 });
  expect(again).toBeInstanceOf(MemoryBlob);
  for (const s of [...open, again]) await s.close();
});
