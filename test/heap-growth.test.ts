import { describe, expect, it } from 'vitest';
import { MANY_FILES, tightenHeapGrowth } from '../lib/update/heap-growth.ts';

describe('tightenHeapGrowth', () => {
  it('caps the heap growth once per process, only for a plan with many files to fetch', () => {
    const set: string[] = [];
    const record = (f: string) => void set.push(f);
    expect(tightenHeapGrowth(0, record)).toBe(false);
    expect(tightenHeapGrowth(MANY_FILES - 1, record)).toBe(false);
    expect(set).toEqual([]);
    expect(tightenHeapGrowth(MANY_FILES, record)).toBe(true);
    expect(set).toEqual(['--heap-growing-percent=60']);
    // a second artifact list (update and deploy, warm) does not set it again
    expect(tightenHeapGrowth(20_000, record)).toBe(false);
    expect(set).toHaveLength(1);
  });
});
