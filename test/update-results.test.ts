/** lib/update/results.ts: the totals and error list the update and warm reports share. */
import { describe, expect, it } from 'vitest';
import { SourceError } from '../lib/errors.ts';
import { resultErrors, transferTotals } from '../lib/update/results.ts';

describe('transferTotals', () => {
  it('is zero for no results', () => {
    expect(transferTotals([])).toEqual({ bytesTransferred: 0, bytesResumed: 0 });
  });

  it('sums what was received and what partials saved, failed files included', () => {
    expect(
      transferTotals([
        { bytesTransferred: 100, resumedFrom: 0 },
        { bytesTransferred: 0, resumedFrom: 0 }, // from the store
        { bytesTransferred: 50, resumedFrom: 200 }, // resumed, then failed
      ]),
    ).toEqual({ bytesTransferred: 150, bytesResumed: 200 });
  });
});

describe('resultErrors', () => {
  it('lists only failed files, each named <artifact>/<path> with its error as JSON', () => {
    const error = new SourceError('EHTTP', 'HTTP 500');
    const errors = resultErrors([
      { artifactId: 'student/v0_ja', path: 'model.bin' },
      { artifactId: 'student/v0_ja', path: 'weights/a.bin', error },
    ]);
    expect(errors).toEqual([{ file: 'student/v0_ja/weights/a.bin', ...error.toJSON() }]);
    expect(errors[0]).toMatchObject({ code: 'EHTTP' });
  });

  it('is empty when nothing failed', () => {
    expect(resultErrors([{ artifactId: 'a', path: 'b' }])).toEqual([]);
  });
});
