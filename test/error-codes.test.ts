/**
 * The README's "Error codes" table and the code lists in lib/errors.ts are one set: a code given
 * to a class must be documented (meaning, exit status, what to do), and a documented code must
 * exist. A throw site with a code no list has does not compile (the @ts-expect-error lines below
 * fail `tsc` the day that stops being true).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  AllSourcesFailedError,
  CancelledError,
  ComposeError,
  DependencyError,
  DiskError,
  ERROR_CODES,
  ExitCode,
  IntegrityError,
  LockError,
  ManifestError,
  ModelmountError,
  REPORT_CODES,
  SmokeError,
  SourceError,
  UsageError,
} from '../lib/errors.ts';

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'README.md');

/** One error of each class, for its exit status and default code. */
const SAMPLE: Record<keyof typeof ERROR_CODES, ModelmountError> = {
  ModelmountError: new ModelmountError('EINTERNAL', ExitCode.internal, 'x'),
  UsageError: new UsageError('x'),
  ManifestError: new ManifestError([]),
  SourceError: new SourceError('EMISSING', 'x'),
  AllSourcesFailedError: new AllSourcesFailedError('f', []),
  IntegrityError: new IntegrityError('f', { size: 1, sha256: 'a' }, { size: 2 }),
  DiskError: new DiskError('x'),
  LockError: new LockError('x'),
  ComposeError: new ComposeError('x'),
  SmokeError: new SmokeError('x'),
  CancelledError: new CancelledError(),
  DependencyError: new DependencyError('got', Object.assign(new Error("Cannot find package 'got'"), { code: 'ERR_MODULE_NOT_FOUND' })),
};

interface Row {
  code: string;
  class: string;
  exit: string;
  cells: string[];
}

/** The rows of the table under "### Error codes" whose first cell is one `CODE`. */
function readmeRows(): Row[] {
  const text = fs.readFileSync(README, 'utf8');
  const start = text.indexOf('\n### Error codes\n');
  expect(start, 'README has a "### Error codes" section').toBeGreaterThan(0);
  const end = text.slice(start + 1).search(/\n#{2,3} /);
  const section = end < 0 ? text.slice(start) : text.slice(start, start + 1 + end);
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
    .filter((cells) => /^`E[A-Z0-9_]+`$/.test(cells[0]!))
    .map((cells) => ({ code: cells[0]!.slice(1, -1), class: cells[1]!, exit: cells[2]!, cells }));
}

const key = (cls: string, code: string) => `${cls} ${code}`;

describe('error codes: lib/errors.ts and the README agree', () => {
  const rows = readmeRows();

  it('every code of every class has a README row, and every README row names a code of that class', () => {
    const listed = Object.entries(ERROR_CODES).flatMap(([cls, codes]) => codes.map((c) => key(cls, c)));
    const documented = rows.filter((r) => r.class !== 'report').map((r) => key(r.class, r.code));
    expect([...documented].sort()).toEqual([...listed].sort());
  });

  it('the codes only reports carry (no error class) are documented as "report", and only those', () => {
    expect(rows.filter((r) => r.class === 'report').map((r) => r.code).sort()).toEqual([...REPORT_CODES].sort());
  });

  it('each row says its class exit status, what the code means and what to do', () => {
    for (const r of rows) {
      expect(r.cells, r.code).toHaveLength(5);
      expect(r.cells[3], `${r.code}: meaning`).not.toBe('');
      expect(r.cells[4], `${r.code}: what to do`).not.toBe('');
      if (r.class === 'report') continue;
      expect(Number(r.exit), `${r.class} ${r.code}`).toBe(SAMPLE[r.class as keyof typeof ERROR_CODES].exitCode);
    }
  });

  it('no class lists a code twice, every code is E + capitals, and each default code is listed', () => {
    for (const [cls, codes] of Object.entries(ERROR_CODES)) {
      expect(new Set(codes).size, cls).toBe(codes.length);
      for (const c of codes) expect(c).toMatch(/^E[A-Z0-9_]+$/);
      expect(codes as readonly string[], cls).toContain(SAMPLE[cls as keyof typeof ERROR_CODES].code);
    }
    expect(new Set(REPORT_CODES).size).toBe(REPORT_CODES.length);
  });

  it('a code no list has does not type-check', () => {
    // @ts-expect-error Node's ENOTFOUND is a failed DNS lookup: a missing file is EMISSING
    expect(new SourceError('ENOTFOUND', 'x').code).toBe('ENOTFOUND');
    // @ts-expect-error a code UsageError does not have
    expect(new UsageError('x', { code: 'EWHATEVER' }).code).toBe('EWHATEVER');
    // @ts-expect-error a SourceError code is not a DiskError code
    expect(new DiskError('x', { code: 'EMISSING' }).code).toBe('EMISSING');
  });
});
