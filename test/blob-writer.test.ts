/**
 * The blob writer flushes written bytes in the background every `writebackStep` (so the fsync
 * before a blob gets its store name has little left), and a failure of such a flush is the
 * writer's failure: Linux reports a writeback error to a descriptor once, so the final fsync
 * alone could pass after it.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobWriter, WRITE_BATCH } from '../lib/store/blob-writer.ts';
import { tempDir } from './helpers/cli.ts';

const STEP = 2 * WRITE_BATCH;

async function openFile(): Promise<{ file: string; handle: fs.FileHandle }> {
  const file = path.join(await tempDir(), 'blob.partial');
  return { file, handle: await fs.open(file, 'w+') };
}

describe('BlobWriter background writeback', () => {
  it('flushes every writebackStep bytes while writing; bytes and sha256 are those pushed', async () => {
    const { file, handle } = await openFile();
    // counted, not run: a real flush under load can span the whole write (one at a time), which
    // would make the count depend on the machine
    let syncs = 0;
    handle.datasync = async () => {
      syncs++;
    };
    const data = randomBytes(5 * STEP + 12345);
    const w = await BlobWriter.open(handle, data.length, { writebackStep: STEP });
    for (let at = 0; at < data.length; at += 64 * 1024) {
      if (!w.push(data.subarray(at, at + 64 * 1024))) await w.ready();
    }
    expect(await w.digest()).toBe(createHash('sha256').update(data).digest('hex'));
    await w.close();
    await handle.close();
    expect(syncs).toBeGreaterThanOrEqual(4); // at 2, 4, 6, 8 and 10 MiB written
    expect((await fs.readFile(file)).equals(data)).toBe(true);
  });

  it('a background flush that fails fails the writer (the final fsync might not see that error again)', async () => {
    const { handle } = await openFile();
    handle.datasync = async () => {
      throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    };
    const data = randomBytes(3 * STEP);
    const w = await BlobWriter.open(handle, data.length, { writebackStep: STEP });
    const pushAll = async (): Promise<void> => {
      for (let at = 0; at < data.length; at += 64 * 1024) {
        if (!w.push(data.subarray(at, at + 64 * 1024))) await w.ready();
      }
      await w.digest();
    };
    await expect(pushAll()).rejects.toMatchObject({ code: 'EIO' });
    await w.close();
    await handle.close();
  });

  it('a background flush that fails after the last write: digest() passes, sync() reports it (the blob never gets a name)', async () => {
    const { handle } = await openFile();
    handle.datasync = () => new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })), 50));
    const data = randomBytes(STEP + 1);
    const w = await BlobWriter.open(handle, data.length, { writebackStep: STEP });
    w.push(data);
    expect(await w.digest()).toBe(createHash('sha256').update(data).digest('hex'));
    await expect(w.sync()).rejects.toMatchObject({ code: 'EIO' });
    await w.close();
    await handle.close();
  });
});
