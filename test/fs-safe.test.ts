/**
 * modelmount's own folders and files (lib/fs-safe.ts) on real temp folders: links refused and
 * never followed, special files refused without blocking, folders that cannot be created
 * failing at once.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { readJsonIfExists, writeFileAtomic } from '../lib/fs-atomic.ts';
import { ensureRealDir, makeDirs, readOwnFile, refuseLinksBelow } from '../lib/fs-safe.ts';
import { tempDir } from './helpers/cli.ts';

describe('makeDirs', () => {
  it('creates missing levels, and accepts a path that exists', async () => {
    const dir = await tempDir();
    await makeDirs(path.join(dir, 'a/b/c'));
    await makeDirs(path.join(dir, 'a/b/c'));
    expect((await fs.stat(path.join(dir, 'a/b/c'))).isDirectory()).toBe(true);
  });

  it('a folder under /proc: exit 5 at once, naming the level that cannot be created', async () => {
    const where = `/proc/modelmount-test-${randomBytes(4).toString('hex')}/a/b`;
    const err = await makeDirs(where).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: ExitCode.disk, code: 'EMKDIR' });
    expect((err as Error).message).toContain(`Cannot create ${path.dirname(path.dirname(where))} (for ${where})`);
  });

  it('a file where a folder should be: exit 5', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'f'), '');
    await expect(makeDirs(path.join(dir, 'f/x'))).rejects.toMatchObject({ exitCode: ExitCode.disk });
  });
});

describe('links in own folders', () => {
  it('ensureRealDir refuses a link at any level below the root, creates real folders otherwise', async () => {
    const dir = await tempDir();
    const elsewhere = await tempDir();
    await fs.mkdir(path.join(dir, 'meta'));
    await fs.symlink(elsewhere, path.join(dir, 'meta', 'tmp'));
    await expect(ensureRealDir(dir, 'meta/tmp/x')).rejects.toMatchObject({ exitCode: ExitCode.disk, code: 'ENOTREALDIR' });
    expect(await fs.readdir(elsewhere)).toEqual([]);
    expect(await ensureRealDir(dir, 'meta/other/x')).toBe(path.join(dir, 'meta/other/x'));
  });

  it('the root itself may be a link (the user chose it)', async () => {
    const dir = await tempDir();
    const real = await tempDir();
    await fs.symlink(real, path.join(dir, 'host'));
    await ensureRealDir(path.join(dir, 'host'), '.modelmount/tmp');
    await refuseLinksBelow(path.join(dir, 'host'), path.join(dir, 'host', '.modelmount', 'tmp'));
    expect((await fs.stat(path.join(real, '.modelmount/tmp'))).isDirectory()).toBe(true);
  });

  it('writeFileAtomic with realBelow refuses a linked folder or file and writes nothing through it', async () => {
    const dir = await tempDir();
    const elsewhere = await tempDir();
    await fs.symlink(elsewhere, path.join(dir, '.modelmount'));
    await expect(writeFileAtomic(path.join(dir, '.modelmount/state.json'), '{}', 0o644, { realBelow: dir })).rejects.toMatchObject({ exitCode: ExitCode.disk });
    expect(await fs.readdir(elsewhere)).toEqual([]);

    const dir2 = await tempDir();
    await fs.mkdir(path.join(dir2, '.modelmount'));
    await fs.writeFile(path.join(elsewhere, 'x.json'), 'theirs');
    await fs.symlink(path.join(elsewhere, 'x.json'), path.join(dir2, '.modelmount/state.json'));
    await expect(writeFileAtomic(path.join(dir2, '.modelmount/state.json'), '{}', 0o644, { realBelow: dir2 })).rejects.toMatchObject({ exitCode: ExitCode.disk });
    expect(await fs.readFile(path.join(elsewhere, 'x.json'), 'utf8')).toBe('theirs');
    await expect(readJsonIfExists(path.join(dir2, '.modelmount/state.json'), { realBelow: dir2 })).rejects.toMatchObject({ exitCode: ExitCode.disk });
  });
});

describe('ensureRealDir remembers the folders it checked (issue 15: ~6 lstat per installed file)', () => {
  const birthTimes = async (dir: string) => (await fs.lstat(dir, { bigint: true })).birthtimeNs > 0n;

  it('a second call for the same folder looks at that folder only (one lstat, no walk)', async () => {
    const dir = await tempDir();
    await ensureRealDir(dir, 'a/b/c');
    if (!(await birthTimes(path.join(dir, 'a/b/c')))) return; // no birth times here: nothing is remembered
    const lstat = vi.spyOn(fs, 'lstat');
    const stat = vi.spyOn(fs, 'stat');
    try {
      expect(await ensureRealDir(dir, 'a/b/c')).toBe(path.join(dir, 'a/b/c'));
      expect(lstat.mock.calls.map((c) => c[0])).toEqual([path.join(dir, 'a/b/c')]);
      expect(stat).not.toHaveBeenCalled();
    } finally {
      lstat.mockRestore();
      stat.mockRestore();
    }
  });

  it('a level replaced by a link after the check is refused on the next call; nothing lands in its target', async () => {
    const dir = await tempDir();
    const elsewhere = await tempDir();
    await ensureRealDir(dir, 'a/b/c');
    await fs.rm(path.join(dir, 'a'), { recursive: true });
    await fs.mkdir(path.join(elsewhere, 'b/c'), { recursive: true });
    await fs.symlink(elsewhere, path.join(dir, 'a'));
    await expect(ensureRealDir(dir, 'a/b/c')).rejects.toMatchObject({ exitCode: ExitCode.disk, code: 'ENOTREALDIR' });
    expect(await fs.readdir(path.join(elsewhere, 'b/c'))).toEqual([]);
  });

  it('the folder itself replaced by a link or a file after the check: refused', async () => {
    const dir = await tempDir();
    const elsewhere = await tempDir();
    await ensureRealDir(dir, 'a/b');
    await fs.rmdir(path.join(dir, 'a/b'));
    await fs.symlink(elsewhere, path.join(dir, 'a/b'));
    await expect(ensureRealDir(dir, 'a/b')).rejects.toThrow(`${path.join(dir, 'a/b')} is a symlink`);
    await fs.rm(path.join(dir, 'a/b'));
    await fs.writeFile(path.join(dir, 'a/b'), '');
    await expect(ensureRealDir(dir, 'a/b')).rejects.toThrow(`${path.join(dir, 'a/b')} is not a folder`);
  });

  it('a folder removed after the check is made again', async () => {
    const dir = await tempDir();
    await ensureRealDir(dir, 'a/b/c');
    await fs.rm(path.join(dir, 'a'), { recursive: true });
    await ensureRealDir(dir, 'a/b/c');
    expect((await fs.lstat(path.join(dir, 'a/b/c'))).isDirectory()).toBe(true);
  });
});

describe('readOwnFile', () => {
  it('missing → undefined; a FIFO → exit 5 at once, naming it', async () => {
    const dir = await tempDir();
    expect(await readOwnFile(path.join(dir, 'nope.json'))).toBeUndefined();
    const fifo = path.join(dir, 'state.json');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const err = await readOwnFile(fifo).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: ExitCode.disk, code: 'ENOTFILE' });
    expect((err as Error).message).toContain(`${fifo} is not a regular file (a FIFO)`);
  });

  it('privateCache: a file, or a folder, not this user\'s alone, a folder that is a link, or a file too large reads as missing', async () => {
    const root = await tempDir();
    const dir = path.join(root, 'cache');
    await fs.mkdir(dir, { mode: 0o700 });
    const file = path.join(dir, 'entry.json');
    await fs.writeFile(file, '{}', { mode: 0o600 });
    const read = (f = file, maxBytes = 2) => readOwnFile(f, { privateCache: { maxBytes } });
    expect((await read())?.toString()).toBe('{}');
    expect(await read(file, 1)).toBeUndefined();
    await fs.chmod(file, 0o620);
    expect(await read()).toBeUndefined();
    await fs.chmod(file, 0o600);
    await fs.chmod(dir, 0o702);
    expect(await read()).toBeUndefined();
    await fs.chmod(dir, 0o700);
    await fs.symlink(dir, path.join(root, 'link'));
    expect(await read(path.join(root, 'link', 'entry.json'))).toBeUndefined();
    expect(await readOwnFile(path.join(root, 'link', 'entry.json'))).toBeDefined(); // without the option, the folder is the caller's
  });

  it('a corrupt JSON file reads as missing (a cache is rebuilt)', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 's.json'), '{"half');
    expect(await readJsonIfExists(path.join(dir, 's.json'))).toBeUndefined();
  });
});
