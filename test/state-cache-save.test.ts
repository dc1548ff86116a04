/** A state cache is written with its entries in key order (code units), whatever order they were recorded in. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateCache } from '../lib/verify/state-cache.ts';
import { tempDir } from './helpers/cli.ts';

describe('StateCache.save', () => {
  it('writes the entries sorted by key, each with what was recorded', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'state.json');
    const blob = path.join(dir, 'blob');
    await fs.writeFile(blob, 'x');
    const st = await fs.lstat(blob, { bigint: true });
    const cache = await StateCache.load(file, 'host');
    const keys = ['b/z.bin', 'a/y.bin', 'B/upper.bin', 'a/é.bin', 'a/x.bin', '10', '9'];
    keys.forEach((k, i) => cache.record(k, st, String(i).repeat(64)));
    await cache.save();
    const saved = JSON.parse(await fs.readFile(file, 'utf8')) as { version: number; entries: Record<string, { sha256: string }> };
    expect(saved.version).toBe(1);
    // integer-like keys come first in any JS object (ascending); the rest in code-unit order
    expect(Object.keys(saved.entries)).toEqual(['9', '10', 'B/upper.bin', 'a/x.bin', 'a/y.bin', 'a/é.bin', 'b/z.bin']);
    for (const [i, k] of keys.entries()) expect(saved.entries[k]!.sha256).toBe(String(i).repeat(64));
  });
});
