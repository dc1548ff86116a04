/**
 * A disk error while creating or preparing a blob's temp file in <cache>/tmp (its open, the write
 * of its bytes, the prefix record and truncate before a fetch in pieces) ends the fetch as a
 * DiskError (exit 5), never as a failing source (exit 3, "check the network"). Real conditions: the
 * store's tmp folder replaced by a file mid-fetch (ENOTDIR), and a child whose file size limit is
 * lowered with prlimit (unprivileged: EFBIG on a write or truncate past it), also for the copy of a
 * stored blob into a host folder on another filesystem.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DiskError, ExitCode, SourceError } from '../lib/errors.ts';
import { storeTmpDir } from '../lib/layout.ts';
import type { FileEntry } from '../lib/manifest/schema.ts';
import type { Source } from '../lib/sources/types.ts';
import { fetchBlob } from '../lib/store/fetch-blob.ts';
import { MEMORY_BLOB_MAX } from '../lib/store/memory-blob.ts';
import { cliEnv, manifestYaml, sha256, tempDir, tempProject } from './helpers/cli.ts';
import { useFaultServers } from './helpers/fetch-servers.ts';
import { BIN } from './helpers/real-cli.ts';
import { prng, randomData } from './helpers/seeded.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const serve = useFaultServers();

const small = randomData(100_000, prng(31));
const big = randomData(2 * 1024 * 1024 + 123, prng(32));
const entryOf = (name: string, data: Buffer): FileEntry => ({ path: name, size: data.length, sha256: sha256(data) });

/** <cache>/tmp moved away (with what is open in it) and a file put in its place */
async function tmpBecomesFile(cache: string): Promise<void> {
  const tmp = storeTmpDir(cache);
  await fs.rename(tmp, `${tmp}.away`);
  await fs.writeFile(tmp, 'not a folder');
}

/** a source that first runs `before`, then sends `bytes` (or fails with `fail`) */
function source(name: string, before: () => Promise<void>, bytes: Buffer | SourceError, ranges = false): Source {
  return {
    name,
    kind: 'http',
    display: name,
    ranges,
    open: async () => {
      await before();
      if (bytes instanceof SourceError) throw bytes;
      return { start: 0, stream: Readable.from([bytes]) };
    },
  };
}

const base = { artifactId: 'a/v1', reopenDelayMs: 10, partialMinAgeMs: 0 };

describe('a disk error in <cache>/tmp is exit 5, not a failing source', () => {
  it("a small blob's sealed file cannot be created (its folder became a file): EDISK", async () => {
    expect(small.length).toBeLessThan(MEMORY_BLOB_MAX);
    const cache = await tempDir();
    const err = await fetchBlob({ ...base, cacheDir: cache, file: entryOf('small.bin', small), sources: [source('origin', () => tmpBecomesFile(cache), small)] }).catch((e) => e);
    expect(err).toBeInstanceOf(DiskError);
    expect(err).toMatchObject({ code: 'EDISK', exitCode: ExitCode.disk });
    expect(err.message).toMatch(/creating a temporary file in .*\(ENOTDIR\)/);
  });

  it("the prefix record before a fetch in pieces cannot be written: EDISK, the next source is not tried", async () => {
    const cache = await tempDir();
    let asked = 0;
    const down = new SourceError('EHTTP', 'HTTP 404', { retryable: false });
    const sources = [
      source('first', () => tmpBecomesFile(cache), down),
      source('ranged', async () => void asked++, big, true),
      source('last', async () => void asked++, big),
    ];
    const err = await fetchBlob({ ...base, cacheDir: cache, file: entryOf('big.bin', big), sources, rangedMinSize: 0, extraConnection: () => () => {} }).catch((e) => e);
    expect(err).toBeInstanceOf(DiskError);
    expect(err).toMatchObject({ code: 'EDISK', exitCode: ExitCode.disk });
    expect(err.message).toMatch(/preparing a\/v1\/big\.bin .* for pieces \(ENOTDIR\)/);
    expect(asked).toBe(0);
  });
});

/** `node <args>` under `prlimit --fsize=<bytes>`: no file grows past it (EFBIG, and SIGXFSZ sent) */
function underFileSizeLimit(bytes: number, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('prlimit', [`--fsize=${bytes}`, '--', process.execPath, ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, stdout, stderr: `${stderr}${signal ? `\n(killed by ${signal})` : ''}` }));
  });
}

describe('a file size limit (EFBIG, SIGXFSZ) while a blob is written to <cache>/tmp', () => {
  it.each([
    ['a small blob (its sealed file)', small, 64 * 1024],
    ['a large blob (its partial)', big, 1024 * 1024],
  ])('update: %s → exit 5 (EDISK), not exit 3', async (_what, data, limit) => {
    const s = await serve({ '/a/v1/f.bin': data });
    const yaml = manifestYaml({ artifacts: [{ id: 'a/v1', files: [{ path: 'f.bin', data }] }], sources: [{ name: 'origin', url: s.url }] });
    const p = await tempProject(yaml);
    const env = cliEnv({ MODELMOUNT_CODE_CACHE: '0' });
    // the bundle rebuilt first if a source is newer (its files are larger than the limit)
    expect(spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' }).status).toBe(0);
    const r = await underFileSizeLimit(limit, [BIN, 'update', '--manifest', p.manifest, '--json'], env);
    expect(r.code, r.stderr).toBe(ExitCode.disk);
    expect(r.stdout).toContain('"EDISK"');
    expect(r.stdout).toContain('EFBIG');
    expect(r.stdout).toContain('ulimit -f'); // the hint names the limit, not a failing disk
    expect(r.stderr + r.stdout).not.toMatch(/network/i);
  });

  it('update: the copy into a host folder on another filesystem (the blob already in the store) → exit 5 naming the limit and the host file', async (ctx) => {
    const shm = await fs.stat('/dev/shm').catch(() => undefined);
    if (!shm || shm.dev === (await fs.stat(await tempDir())).dev) return ctx.skip(); // no other filesystem to copy across
    const s = await serve({ '/a/v1/f.bin': big });
    const yaml = manifestYaml({ artifacts: [{ id: 'a/v1', files: [{ path: 'f.bin', data: big }] }], sources: [{ name: 'origin', url: s.url }] });
    const p = await tempProject(yaml);
    const env = cliEnv({ MODELMOUNT_CODE_CACHE: '0' });
    // the store filled with no limit (asynchronously: the server answers from this process)
    const warm = await underFileSizeLimit(2 ** 40, [BIN, 'warm', '--manifest', p.manifest], env);
    expect(warm.code, warm.stderr).toBe(0);
    const hostDir = await fs.mkdtemp('/dev/shm/modelmount-efbig-');
    try {
      const r = await underFileSizeLimit(1024 * 1024, [BIN, 'update', '--manifest', p.manifest, '--host-dir', hostDir, '--yes', '--no-compose', '--no-smoke', '--json'], env);
      expect(r.code, r.stderr).toBe(ExitCode.disk);
      expect(r.stdout).toContain('EFBIG');
      expect(r.stdout).toContain('ulimit -f');
      expect(r.stdout).not.toContain('is not what modelmount made there');
      await expect(fs.access(path.join(hostDir, 'a/v1/f.bin'))).rejects.toThrow(); // nothing half-written in place
    } finally {
      await fs.rm(hostDir, { recursive: true, force: true });
    }
  });

  it('a fetch in pieces: the truncate of the partial to its full size fails → EDISK', async () => {
    const s = await serve({ '/student/v0_ja/f.bin': big });
    const cache = await tempDir();
    const r = await underFileSizeLimit(1024 * 1024, ['--import', 'tsx', 'test/helpers/fetch-child.ts', cache, s.url, 'f.bin', String(big.length), sha256(big), String(256 * 1024)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/DiskError: Failed preparing student\/v0_ja\/f\.bin .* for pieces \(EFBIG\)/);
  });
});
