/**
 * RunFolders (lib/run-folders.ts): one run's many files in a few folders check each folder once
 * a window, on real temp folders; a refusal is never remembered, a folder gone within the window
 * is made again by use(), and a new run checks anew.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { RunFolders } from '../lib/run-folders.ts';
import { tempDir } from './helpers/cli.ts';

describe('RunFolders', () => {
  it('within the window a checked folder is taken as it was (not looked at); after the window the same RunFolders makes a removed folder again', async () => {
    const dir = await tempDir();
    const folders = new RunFolders(300);
    expect(await folders.ensure(dir, 'a/b')).toBe(path.join(dir, 'a/b'));
    await fs.rm(path.join(dir, 'a'), { recursive: true });
    expect(await folders.ensure(dir, 'a/b')).toBe(path.join(dir, 'a/b'));
    await expect(fs.lstat(path.join(dir, 'a'))).rejects.toThrow(); // not looked at: not made again
    await delay(350);
    await folders.ensure(dir, 'a/b');
    expect((await fs.lstat(path.join(dir, 'a/b'))).isDirectory()).toBe(true);
  });

  it('a refusal is not remembered: with the link gone, the next call within the window succeeds; nothing landed in the link\'s target', async () => {
    const dir = await tempDir();
    const elsewhere = await tempDir();
    await fs.symlink(elsewhere, path.join(dir, 'a'));
    const folders = new RunFolders(60_000);
    await expect(folders.ensure(dir, 'a/b')).rejects.toMatchObject({ exitCode: ExitCode.disk });
    expect(await fs.readdir(elsewhere)).toEqual([]);
    await fs.rm(path.join(dir, 'a'));
    expect(await folders.ensure(dir, 'a/b')).toBe(path.join(dir, 'a/b'));
    expect((await fs.lstat(path.join(dir, 'a'))).isDirectory()).toBe(true);
  });

  it('use(): a folder removed within the window (an unlocked gc) fails the work with ENOENT once; it is made again and the work done', async () => {
    const dir = await tempDir();
    const folders = new RunFolders(60_000);
    await folders.use(dir, 'sha256/ab', (d) => fs.writeFile(path.join(d, 'one'), '1'));
    await fs.rm(path.join(dir, 'sha256'), { recursive: true });
    let tries = 0;
    await folders.use(dir, 'sha256/ab', (d) => {
      tries++;
      return fs.writeFile(path.join(d, 'two'), '2');
    });
    expect(tries).toBe(2);
    expect(await fs.readdir(path.join(dir, 'sha256/ab'))).toEqual(['two']);
    // another error is not retried
    tries = 0;
    const failing = folders.use(dir, 'sha256/ab', async () => {
      tries++;
      throw Object.assign(new Error('full'), { code: 'ENOSPC' });
    });
    await expect(failing).rejects.toThrow('full');
    expect(tries).toBe(1);
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
