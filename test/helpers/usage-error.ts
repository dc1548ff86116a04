/** The UsageError a call throws (fails the test when it throws nothing or something else). */
import { expect } from 'vitest';
import { UsageError } from '../../lib/errors.ts';

export function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}
