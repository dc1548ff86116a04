/**
 * The state cache: written with its entries in key order (code units), whatever order they were
 * recorded in; and relinked() carries every name of one inode over to its new ctime, through the
 * identity index (one key kept as itself, a Set for several).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateCache } from '../lib/verify/state-cache.ts';
import { tempDir } from './helpers/cli.ts';

/** A new cache (at `file`, not written yet) and the stat of a file to record. */
async function emptyCacheAndAFile() {
  const dir = await tempDir();
  const file = path.join(dir, 'state.json');
  const blob = path.join(dir, 'blob');
  await fs.writeFile(blob, 'x');
  return { file, st: await fs.lstat(blob, { bigint: true }), cache: await StateCache.load(file, 'host') };
}

describe('StateCache.save', () => {
  it('writes the entries sorted by key, each with what was recorded', async () => {
    const { file, st, cache } = await emptyCacheAndAFile();
    const keys = ['b/z.bin', 'a/y.bin', 'B/upper.bin', 'a/é.bin', 'a/x.bin', '10', '9'];
    keys.forEach((k, i) => cache.record(k, st, String(i).repeat(64)));
    await cache.save();
    const saved = JSON.parse(await fs.readFile(file, 'utf8')) as { version: number; entries: Record<string, { sha256: string }> };
    expect(saved.version).toBe(1);
    // integer-like keys come first in any JS object (ascending); the rest in code-unit order
    expect(Object.keys(saved.entries)).toEqual(['9', '10', 'B/upper.bin', 'a/x.bin', 'a/y.bin', 'a/é.bin', 'b/z.bin']);
    for (const [i, k] of keys.entries()) expect(saved.entries[k]!.sha256).toBe(String(i).repeat(64));
  });

  it('relinked() moves every entry recorded for the old identity, as names come and go', async () => {
    const dir = await tempDir();
    const cache = await StateCache.load(path.join(dir, 'state.json'), 'host');
    const blob = path.join(dir, 'blob');
    const other = path.join(dir, 'other');
    await fs.writeFile(blob, 'bytes');
    await fs.writeFile(other, 'other');
    const stOther = await fs.lstat(other, { bigint: true });
    let n = 0;
    // a new hard link moves the inode's ctime (coarse clock: wait until it does)
    const relink = async () => {
      const before = await fs.lstat(blob, { bigint: true });
      for (;;) {
        await fs.link(blob, path.join(dir, `link${n++}`));
        const after = await fs.lstat(blob, { bigint: true });
        if (after.ctimeNs !== before.ctimeNs) return { before, after };
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const sha = 'a'.repeat(64);
    const st0 = await fs.lstat(blob, { bigint: true });
    cache.record('a', st0, sha);
    cache.record('b', st0, sha);
    cache.record('c', stOther, 'c'.repeat(64));

    const r1 = await relink();
    expect(cache.relinked(r1.before, r1.after)).toBe(2);
    expect(cache.lookup('a', r1.after)).toBe(sha);
    expect(cache.lookup('b', r1.after)).toBe(sha);
    expect(cache.lookup('a', r1.before)).toBeUndefined();
    expect(cache.lookup('c', stOther)).toBe('c'.repeat(64));

    cache.forget('a');
    const r2 = await relink();
    expect(cache.relinked(r2.before, r2.after)).toBe(1);
    expect(cache.lookup('b', r2.after)).toBe(sha);

    // one key for the identity, then a second recorded for it
    cache.record('d', r2.after, sha);
    const r3 = await relink();
    expect(cache.relinked(r3.before, r3.after)).toBe(2);
    expect(cache.lookup('b', r3.after)).toBe(sha);
    expect(cache.lookup('d', r3.after)).toBe(sha);

    cache.forget('b');
    cache.forget('d');
    const r4 = await relink();
    expect(cache.relinked(r4.before, r4.after)).toBe(0);
  });
});

describe('keys named like members of Object.prototype', () => {
  const KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'a/x.bin'];

  it('are keys like any other: recorded, looked up, saved and loaded back, forgotten', async () => {
    const { file, st, cache } = await emptyCacheAndAFile();
    for (const k of KEYS) expect([cache.lookup(k, st), cache.recordedIdentity(k)], k).toEqual([undefined, '']);
    KEYS.forEach((k, i) => cache.record(k, st, String(i).repeat(64)));
    for (const [i, k] of KEYS.entries()) expect(cache.lookup(k, st), k).toBe(String(i).repeat(64));
    expect(cache.keys().sort()).toEqual([...KEYS].sort());
    await cache.save();

    const saved = JSON.parse(await fs.readFile(file, 'utf8')) as { entries: Record<string, { sha256: string }> };
    expect(Object.keys(saved.entries).sort()).toEqual([...KEYS].sort());
    const again = await StateCache.load(file, 'host');
    for (const [i, k] of KEYS.entries()) expect(again.lookup(k, st), k).toBe(String(i).repeat(64));
    again.forget('__proto__');
    expect(again.lookup('__proto__', st)).toBeUndefined();
    expect(again.keys().sort()).toEqual(KEYS.filter((k) => k !== '__proto__').sort());
  });

  it('forgetting one that was never recorded changes nothing: nothing is written', async () => {
    const file = path.join(await tempDir(), 'state.json');
    const cache = await StateCache.load(file, 'host');
    for (const k of KEYS) cache.forget(k);
    await cache.save();
    await expect(fs.lstat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
