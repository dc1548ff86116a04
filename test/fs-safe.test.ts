/**
 * modelmount's own folders and files (lib/fs-safe.ts) on real temp folders: links refused and
 * never followed, special files refused without blocking, folders that cannot be created
 * failing at once.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
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

  it('a corrupt JSON file reads as missing (a cache is rebuilt)', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 's.json'), '{"half');
    expect(await readJsonIfExists(path.join(dir, 's.json'))).toBeUndefined();
  });
});
