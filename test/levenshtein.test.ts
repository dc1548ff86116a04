/** lib/levenshtein.ts: the edit distance behind every "did you mean …?". */
import { describe, expect, it } from 'vitest';
import { levenshtein } from '../lib/levenshtein.ts';

describe('levenshtein', () => {
  it('is 0 for equal strings, the other length against an empty one', () => {
    expect(levenshtein('', '')).toBe(0);
    expect(levenshtein('jobs', 'jobs')).toBe(0);
    expect(levenshtein('', 'jobs')).toBe(4);
    expect(levenshtein('jobs', '')).toBe(4);
  });

  it('counts one insertion, deletion or substitution as 1', () => {
    expect(levenshtein('job', 'jobs')).toBe(1);
    expect(levenshtein('jobss', 'jobs')).toBe(1);
    expect(levenshtein('jibs', 'jobs')).toBe(1);
  });

  it('counts a transposition as 2, and is symmetric', () => {
    expect(levenshtein('ojbs', 'jobs')).toBe(2);
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('sitting', 'kitten')).toBe(3);
  });

  it('is case-sensitive (callers lower-case when they mean to)', () => {
    expect(levenshtein('Jobs', 'jobs')).toBe(1);
  });
});
