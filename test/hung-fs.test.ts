/** The hung-mount helper itself (test/helpers/hung-fs.ts): misuse fails at once, never a silent replacement or a spin to the test timeout. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/cli.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';

afterEach(endHungLooks);

describe('hangFs', () => {
  it('a second hang of the same method throws (it would replace the first); another method is fine', async () => {
    const dir = await tempDir();
    hangFs('lstat', path.join(dir, 'a'));
    expect(() => hangFs('lstat', path.join(dir, 'b'))).toThrow(/fs\.lstat is already mocked/);
    expect(() => hangFs('readdir', dir)).not.toThrow();
  });

  it('untilAsked fails at once when the run ends without looking at the hung path', async () => {
    const dir = await tempDir();
    const hung = hangFs('lstat', path.join(dir, 'never looked at'));
    await expect(untilAsked(hung, fs.lstat(dir))).rejects.toThrow(/ended without looking at the hung path/);
  });

  it('untilAsked returns once the hung path is asked; release() answers it', async () => {
    const dir = await tempDir();
    const hung = hangFs('lstat', dir);
    const looking = fs.lstat(dir);
    await untilAsked(hung, looking);
    hung.release();
    expect((await looking).isDirectory()).toBe(true);
  });

  it('fromCall: the earlier looks at the path answer, that one hangs (and so would every later one)', async () => {
    const dir = await tempDir();
    const hung = hangFs('lstat', dir, { fromCall: 3 });
    expect((await fs.lstat(dir)).isDirectory()).toBe(true);
    expect(hung.called()).toBe(false);
    expect((await fs.lstat(dir)).isDirectory()).toBe(true);
    const third = fs.lstat(dir);
    await untilAsked(hung, third);
    expect(hung.asked()).toEqual([dir, dir, dir]);
    hung.release();
    expect((await third).isDirectory()).toBe(true);
  });
});
