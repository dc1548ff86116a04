/**
 * RunFolders (lib/run-folders.ts): one run's many files in a few folders check each folder once
 * a window, on real temp folders; a refusal is never remembered, and a new run checks anew.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { RunFolders } from '../lib/run-folders.ts';
import { tempDir } from './helpers/cli.ts';

describe('RunFolders', () => {
  it('within the window a checked folder is taken as it was (no look at it); after it, a folder removed is made again', async () => {
    const dir = await tempDir();
    const folders = new RunFolders(60_000);
    expect(await folders.ensure(dir, 'a/b')).toBe(path.join(dir, 'a/b'));
    await fs.rm(path.join(dir, 'a'), { recursive: true });
    expect(await folders.ensure(dir, 'a/b')).toBe(path.join(dir, 'a/b'));
    await expect(fs.lstat(path.join(dir, 'a'))).rejects.toThrow(); // not looked at: not made again
    const every = new RunFolders(0);
    await every.ensure(dir, 'a/b');
    expect((await fs.lstat(path.join(dir, 'a/b'))).isDirectory()).toBe(true);
  });

  it('a link in the way is refused on every call (a refusal is not remembered), and nothing lands in its target', async () => {
    const dir = await tempDir();
    const elsewhere = await tempDir();
    await fs.symlink(elsewhere, path.join(dir, 'a'));
    const folders = new RunFolders(60_000);
    for (let i = 0; i < 2; i++) await expect(folders.ensure(dir, 'a/b')).rejects.toMatchObject({ exitCode: ExitCode.disk });
    expect(await fs.readdir(elsewhere)).toEqual([]);
  });

  it('another run (a new RunFolders) checks again: a link swapped in since is refused', async () => {
    const dir = await tempDir();
    const elsewhere = await tempDir();
    await new RunFolders(60_000).ensure(dir, 'a/b');
    await fs.rm(path.join(dir, 'a'), { recursive: true });
    await fs.mkdir(path.join(elsewhere, 'b'));
    await fs.symlink(elsewhere, path.join(dir, 'a'));
    await expect(new RunFolders(60_000).ensure(dir, 'a/b')).rejects.toMatchObject({ exitCode: ExitCode.disk, code: 'ENOTREALDIR' });
  });
});
