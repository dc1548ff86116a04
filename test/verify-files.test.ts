/** checkHostFiles: many files looked at at once, hashing still bounded by `jobs` (issue 15). */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { Artifact } from '../lib/manifest/schema.ts';
import { checkHostFiles } from '../lib/verify/verify-files.ts';
import { StateCache } from '../lib/verify/state-cache.ts';
import { tempDir } from './helpers/cli.ts';

const running = { now: 0, max: 0 };
vi.mock('../lib/verify/hash.ts', async (orig) => {
  const real = await orig<typeof import('../lib/verify/hash.ts')>();
  return {
    sha256File: async (file: string, signal?: AbortSignal) => {
      running.now++;
      running.max = Math.max(running.max, running.now);
      try {
        await new Promise((r) => setTimeout(r, 2));
        return await real.sha256File(file, signal);
      } finally {
        running.now--;
      }
    },
  };
});

describe('checkHostFiles', () => {
  it('hashes at most `jobs` files at once, and gives every file its verdict in order', async () => {
    const host = await tempDir();
    const files = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const body = `file ${i}`;
        await fs.mkdir(path.join(host, 'a'), { recursive: true });
        await fs.writeFile(path.join(host, 'a', `f${i}`), body);
        const sha256 = i === 7 ? '0'.repeat(64) : createHash('sha256').update(body).digest('hex');
        return { path: `f${i}`, size: body.length, sha256 };
      }),
    );
    const artifacts = [{ id: 'a', files }] as unknown as Artifact[];
    for (const jobs of [1, 3]) {
      running.max = 0;
      const checks = await checkHostFiles(host, artifacts, StateCache.none(), { jobs });
      expect(running.max).toBe(jobs);
      expect(checks.map((c) => c.path)).toEqual(files.map((f) => f.path));
      expect(checks.map((c) => c.status)).toEqual(files.map((_, i) => (i === 7 ? 'modified' : 'ok')));
    }
  });
});
