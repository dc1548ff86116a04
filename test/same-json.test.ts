/** sameJson(a, b) says what JSON.stringify(a) === JSON.stringify(b) says (issue 15). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sameJson } from '../lib/same-json.ts';

const byJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

describe('sameJson', () => {
  it('agrees with comparing the JSON text', () => {
    const cases: [unknown, unknown][] = [
      [{ a: 1, b: 2 }, { b: 2, a: 1 }], // key order matters to the text
      [{ a: 1, b: undefined }, { a: 1 }],
      [{ a: 1, f: () => 1 }, { a: 1 }],
      [[1, undefined], [1, null]],
      [[1, () => 2], [1, null]],
      [NaN, null],
      [Infinity, null],
      [-0, 0],
      [{ d: new Date(0) }, { d: '1970-01-01T00:00:00.000Z' }],
      [[], {}],
      ['1', 1],
      [{ a: [1, { b: 'x' }] }, { a: [1, { b: 'x' }] }],
      [{ a: [1, { b: 'x' }] }, { a: [1, { b: 'y' }] }],
      [{ files: [{ path: 'p', size: 1 }] }, { files: [{ path: 'p', size: 1 }, { path: 'q', size: 2 }] }],
    ];
    for (const [a, b] of cases) expect([a, b, sameJson(a, b)]).toEqual([a, b, byJson(a, b)]);
    fc.assert(fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => sameJson(a, b) === byJson(a, b)));
    fc.assert(fc.property(fc.jsonValue(), (a) => sameJson(a, JSON.parse(JSON.stringify(a) ?? 'null')) === byJson(a, JSON.parse(JSON.stringify(a) ?? 'null'))));
    const obj = fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constant(undefined), fc.constant(null)), { maxKeys: 3 });
    fc.assert(fc.property(fc.array(obj, { maxLength: 3 }), fc.array(obj, { maxLength: 3 }), (a, b) => sameJson(a, b) === byJson(a, b)), { numRuns: 3000 });
  });
});
