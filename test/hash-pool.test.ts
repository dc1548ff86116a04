/** The hash pool: whole files, files being written (follow), and the workers' scheduling priority. */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashPool } from '../lib/verify/hash-pool.ts';
import { tempDir } from './helpers/cli.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('HashPool', () => {
  it('hashes whole files of any size, several at once', async () => {
    const dir = await tempDir();
    const pool = new HashPool(2);
    const bodies = [Buffer.alloc(0), randomBytes(1), randomBytes(4 * 1024 * 1024 + 7), randomBytes(9 * 1024 * 1024)];
    const files = await Promise.all(
      bodies.map(async (b, i) => {
        const f = path.join(dir, `f${i}`);
        await fsp.writeFile(f, b);
        return f;
      }),
    );
    expect(await Promise.all(files.map((f) => pool.hashFile(f)))).toEqual(bodies.map(sha));
  });

  it('reports the bytes read so far as it hashes a whole file, when asked (a wait on a hung mount follows it)', async () => {
    const dir = await tempDir();
    const pool = new HashPool(1);
    const body = randomBytes(9 * 1024 * 1024 + 5);
    const f = path.join(dir, 'big');
    await fsp.writeFile(f, body);
    const seen: number[] = [];
    expect(await pool.hashFile(f, undefined, { everyMs: 0, onProgress: (bytes) => seen.push(bytes) })).toBe(sha(body));
    // one report per 1 MiB read (reads are that small when progress is followed: a slow mount still reports)
    const step = 1024 * 1024;
    expect(seen).toEqual([...Array.from({ length: Math.floor(body.length / step) }, (_, i) => (i + 1) * step), body.length]);
    expect(await pool.hashFile(f)).toBe(sha(body)); // not asked: none
  });

  it('follows a file as it is written, and starts over after a reset', async () => {
    const dir = await tempDir();
    const pool = new HashPool(1);
    const fd = fs.openSync(path.join(dir, 'partial'), 'w+');
    try {
      const f = pool.follow(fd, 0);
      const parts = [randomBytes(3 * 1024 * 1024), randomBytes(5 * 1024 * 1024 + 3)];
      let at = 0;
      for (const p of parts) {
        fs.writeSync(fd, p, 0, p.length, at);
        at += p.length;
        f.advance(at);
      }
      expect(await f.digest()).toEqual({ sha256: sha(Buffer.concat(parts)), size: at });

      fs.ftruncateSync(fd, 0);
      f.reset();
      const again = randomBytes(1234);
      fs.writeSync(fd, again, 0, again.length, 0);
      f.advance(again.length);
      expect(await f.digest()).toEqual({ sha256: sha(again), size: again.length });
      await f.close();
    } finally {
      fs.closeSync(fd);
    }
  });

  it('hashes a small followed file on the calling thread (no worker), and hands it to a worker once it grows past the limit', async () => {
    const dir = await tempDir();
    const pool = new HashPool(1, 64 * 1024);
    const fd = fs.openSync(path.join(dir, 'partial'), 'w+');
    try {
      const head = randomBytes(1000);
      fs.writeSync(fd, head, 0, head.length, 0);
      const f = pool.follow(fd, head.length); // a resumed partial: 1000 bytes there already
      const more = randomBytes(20_000);
      fs.writeSync(fd, more, 0, more.length, head.length);
      f.advance(head.length + more.length);
      expect(await f.digest()).toEqual({ sha256: sha(Buffer.concat([head, more])), size: head.length + more.length });
      expect(pool.workerCount).toBe(0);

      fs.ftruncateSync(fd, 0);
      f.reset();
      const again = randomBytes(777);
      fs.writeSync(fd, again, 0, again.length, 0);
      f.advance(again.length);
      expect(await f.digest()).toEqual({ sha256: sha(again), size: again.length });
      expect(pool.workerCount).toBe(0);

      const big = randomBytes(200 * 1024);
      fs.writeSync(fd, big, 0, big.length, again.length);
      f.advance(again.length + big.length);
      expect(await f.digest()).toEqual({ sha256: sha(Buffer.concat([again, big])), size: again.length + big.length });
      expect(pool.workerCount).toBe(1);
      await f.close();
    } finally {
      fs.closeSync(fd);
    }
  });

  it('a small followed file cut short: the digest fails with EIO, as on a worker', async () => {
    const dir = await tempDir();
    const pool = new HashPool(1, 64 * 1024);
    const fd = fs.openSync(path.join(dir, 'partial'), 'w+');
    try {
      fs.writeSync(fd, randomBytes(100), 0, 100, 0);
      const f = pool.follow(fd, 0);
      f.advance(500);
      await expect(f.digest()).rejects.toMatchObject({ code: 'EIO' });
      await f.close();
    } finally {
      fs.closeSync(fd);
    }
  });

  it.runIf(process.platform === 'linux')('hashes whole files at the process priority while nothing is downloaded (verify --full)', async () => {
    const dir = await tempDir();
    const files = await Promise.all(
      [0, 1].map(async (i) => {
        const f = path.join(dir, `f${i}`);
        await fsp.writeFile(f, randomBytes(1024));
        return f;
      }),
    );
    const pool = new HashPool(2);
    await Promise.all(files.map((f) => pool.hashFile(f))); // both workers exist now
    expect(pool.workerCount).toBe(2);
    expect(await pool.workerNices()).toEqual([os.getPriority(0), os.getPriority(0)]);
  });

  it.runIf(process.platform === 'linux')('runs its workers at a lower priority than the thread that receives, from the first download on', async () => {
    const dir = await tempDir();
    const f = path.join(dir, 'x');
    await fsp.writeFile(f, 'x');
    const pool = new HashPool(2);
    await pool.hashFile(f); // one worker exists, not lowered
    const mine = os.getPriority(0);
    const lowered = Math.min(19, mine + 10);
    expect(await pool.workerNices()).toEqual([mine]);
    const fd = fs.openSync(path.join(dir, 'dl'), 'w+');
    try {
      fs.writeSync(fd, 'abc');
      const follower = pool.follow(fd, 3); // a download: lowers the existing worker and every new one
      const [, second] = await Promise.all([follower.digest(), pool.hashFile(f)]);
      expect(second).toBe(sha(Buffer.from('x')));
      await follower.close();
    } finally {
      fs.closeSync(fd);
    }
    expect(pool.workerCount).toBe(2);
    expect(await pool.workerNices()).toEqual([lowered, lowered]);
  });
});
