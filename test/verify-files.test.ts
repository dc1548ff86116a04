/** checkHostFiles: many files looked at at once, hashing still bounded by `jobs` (issue 15). */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Artifact } from '../lib/manifest/schema.ts';
import { checkHostFiles } from '../lib/verify/verify-files.ts';
import { StateCache } from '../lib/verify/state-cache.ts';
import type { ReadProgress } from '../lib/verify/hash-pool-worker.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { tempDir } from './helpers/cli.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';

const running = { now: 0, max: 0 };
/** what the hash of a file does before the real one (tests below): hang as on a hung mount, or report progress slowly */
const beforeHash = new Map<string, (progress?: ReadProgress, signal?: AbortSignal) => Promise<void>>();
vi.mock('../lib/verify/hash.ts', async (orig) => {
  const real = await orig<typeof import('../lib/verify/hash.ts')>();
  return {
    sha256File: async (file: string, signal?: AbortSignal, progress?: ReadProgress) => {
      running.now++;
      running.max = Math.max(running.max, running.now);
      try {
        await new Promise((r) => setTimeout(r, 2));
        await beforeHash.get(file)?.(progress, signal);
        return await real.sha256File(file, signal, progress);
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

/** artifact "a" with files x, y, z in a new host folder */
async function hostWithFiles() {
  const host = await tempDir();
  await fs.mkdir(path.join(host, 'a'));
  const files = [];
  for (const name of ['x', 'y', 'z']) {
    await fs.writeFile(path.join(host, 'a', name), name);
    files.push({ path: name, size: 1, sha256: createHash('sha256').update(name).digest('hex') });
  }
  return { host, artifacts: [{ id: 'a', files }] as unknown as Artifact[], file: (name: string) => path.join(host, 'a', name) };
}

describe('checkHostFiles on a host folder that stops answering', () => {
  afterEach(endHungLooks);

  /** hostWithFiles, where the lstat of the artifact's folder hangs (a hung mount) */
  async function hungArtifactFolder() {
    const { host, artifacts } = await hostWithFiles();
    const folder = path.join(host, 'a');
    const hung = hangFs('lstat', folder);
    return { host, artifacts, hung, filesLooked: () => hung.asked().filter((p) => p.startsWith(folder + path.sep)) };
  }

  it('a stall while its artifact folder is looked at is thrown (exit 5), and none of its files is looked at on the hung mount', async () => {
    const h = await hungArtifactFolder();
    const err = await checkHostFiles(h.host, h.artifacts, StateCache.none(), { jobs: 2, idleMs: 200 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
    expect((err as Error).message).toContain(h.host);
    expect(h.filesLooked()).toEqual([]);
  });

  it('an abort while its artifact folder is looked at ends the check with the abort reason, and none of its files is looked at', async () => {
    const h = await hungArtifactFolder();
    const ac = new AbortController();
    const checking = checkHostFiles(h.host, h.artifacts, StateCache.none(), { jobs: 2, signal: ac.signal }).catch((e: unknown) => e);
    await untilAsked(h.hung, checking);
    ac.abort(new Error('Terminated'));
    expect(await checking).toMatchObject({ message: 'Terminated' });
    expect(h.filesLooked()).toEqual([]);
  });
});

describe('checkHostFiles while a file is hashed', () => {
  it('a hash that stops moving (its file on a hung mount) is a stall naming the host folder (exit 5)', async () => {
    const h = await hostWithFiles();
    let release = () => {};
    const hung = new Promise<void>((r) => (release = r));
    beforeHash.set(h.file('y'), async (progress) => {
      progress?.onProgress(0); // read a little, then nothing more
      await hung;
    });
    try {
      const err = await checkHostFiles(h.host, h.artifacts, StateCache.none(), { jobs: 2, idleMs: 300 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
      expect((err as Error).message).toContain(h.host);
    } finally {
      beforeHash.clear();
      release();
    }
  });

  it('a hash given up on is cancelled (its signal aborts with the stall), so no worker reads on for nobody', async () => {
    const h = await hostWithFiles();
    let seen: AbortSignal | undefined;
    beforeHash.set(h.file('y'), async (_progress, signal) => {
      seen = signal;
      // a slow read that would go on long after the bound, but ends when cancelled
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20_000);
        signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      signal?.throwIfAborted();
    });
    try {
      const err = await checkHostFiles(h.host, h.artifacts, StateCache.none(), { jobs: 2, idleMs: 300 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ESTALLED' });
      expect(seen?.aborted).toBe(true);
      expect(seen?.reason).toBe(err);
    } finally {
      beforeHash.clear();
    }
  });

  it("an abort of the run's signal while a file is hashed ends the check with its reason and cancels the hash", async () => {
    const h = await hostWithFiles();
    const ac = new AbortController();
    let seen: AbortSignal | undefined;
    beforeHash.set(h.file('y'), async (_progress, signal) => {
      seen = signal;
      ac.abort(new Error('Terminated'));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20_000);
        signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      signal?.throwIfAborted();
    });
    try {
      const err = await checkHostFiles(h.host, h.artifacts, StateCache.none(), { jobs: 2, signal: ac.signal }).catch((e: unknown) => e);
      expect(err).toMatchObject({ message: 'Terminated' });
      expect(seen?.aborted).toBe(true);
      expect(seen?.reason).toBe(err);
    } finally {
      beforeHash.clear();
    }
  });

  it('a slow hash that keeps reporting progress for longer than the idle bound is waited for', async () => {
    const h = await hostWithFiles();
    beforeHash.set(h.file('y'), async (progress) => {
      for (let i = 0; i < 30; i++) {
        await delay(50);
        progress?.onProgress(i);
      }
    });
    try {
      const checks = await checkHostFiles(h.host, h.artifacts, StateCache.none(), { jobs: 2, idleMs: 1000 });
      expect(checks.map((c) => c.status)).toEqual(['ok', 'ok', 'ok']);
    } finally {
      beforeHash.clear();
    }
  });
});
