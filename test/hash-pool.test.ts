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

  it.runIf(process.platform === 'linux')('runs its workers at a lower priority than the thread that receives downloads', async () => {
    const dir = await tempDir();
    const f = path.join(dir, 'x');
    await fsp.writeFile(f, 'x');
    const pool = new HashPool(1);
    await pool.hashFile(f); // the worker exists now
    const mine = os.getPriority(0);
    // field 19 of /proc/<tid>/stat is the nice value (fields counted after the command name)
    const nices = fs.readdirSync('/proc/self/task').map((tid) => Number(fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
    expect(nices).toContain(Math.min(19, mine + 10));
  });
});
