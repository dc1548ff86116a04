/** lib/update/results.ts: the totals and error list the update and warm reports share. */
import { describe, expect, it } from 'vitest';
import { SourceError } from '../lib/errors.ts';
import { resultErrors, transferTotals } from '../lib/update/results.ts';
import { reportedFile } from '../lib/update/report.ts';
import type { FileResult } from '../lib/update/installer.ts';

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

describe('reportedFile (issue 15: the skipped file written out)', () => {
  const generic = ({ error, artifactId: _a, ...rest }: FileResult) => ({ ...rest, ...(error ? { error: error.toJSON() } : {}) });
  it('gives the same keys, in the same order, as the generic copy for every shape', async () => {
    const { Installer } = await import('../lib/update/installer.ts');
    const pf = { artifactId: 'a', path: 'p', size: 3, sha256: '0'.repeat(64), action: 'skip' as const, host: 'ok' as const, reason: 'verified' };
    const skip = Installer.prototype.skipResult.call(undefined, pf);
    const shapes: FileResult[] = [
      skip,
      { ...skip, source: 'store' },
      { ...skip, action: 'fetch', source: 'origin', method: 'hardlink', bytesTransferred: 3 },
      { ...skip, action: 'fetch', status: 'failed', error: new SourceError('EHTTP', 'x', { hint: 'y' }) },
      { ...skip, action: 'relink', status: 'not-installed' },
    ];
    for (const r of shapes) expect(JSON.stringify(reportedFile(r))).toBe(JSON.stringify(generic(r)));
  });

  it('a skipped file with eight keys that are not skipResult\'s, or not in its order, is not taken for one', async () => {
    const { Installer } = await import('../lib/update/installer.ts');
    const pf = { artifactId: 'a', path: 'p', size: 3, sha256: '0'.repeat(64), action: 'skip' as const, host: 'ok' as const, reason: 'verified' };
    const { resumedFrom, bytesTransferred, ...head } = Installer.prototype.skipResult.call(undefined, pf);
    const shapes = [
      // the same keys, another order: the report keeps the result's order
      { ...head, resumedFrom, bytesTransferred },
      // one key fewer, one other (a field a later skip result might carry)
      { ...head, bytesTransferred, note: 'kept' } as unknown as FileResult,
      // resumedFrom missing, the error key there (undefined)
      { ...head, bytesTransferred, error: undefined } as unknown as FileResult,
    ];
    for (const r of shapes) {
      expect(Object.keys(r)).toHaveLength(8);
      expect(JSON.stringify(reportedFile(r))).toBe(JSON.stringify(generic(r)));
      expect(Object.keys(reportedFile(r))).toEqual(Object.keys(generic(r)));
    }
  });
});
