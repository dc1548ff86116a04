/** The fast path's YAML 1.2 core scalar checks (lib/manifest/parse-yaml.ts) say what the regular expressions say (issue 15). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBool, isFloat, isInt, isNull } from '../lib/manifest/parse-yaml.ts';

const reference = {
  isNull: (s: string) => /^(?:~|[Nn]ull|NULL)?$/.test(s),
  isBool: (s: string) => /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s),
  isInt: (s: string) => /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/.test(s),
  isFloat: (s: string) =>
    /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s) ||
    /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s) ||
    /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s),
};
const checks = { isNull, isBool, isInt, isFloat };

describe('core scalar checks', () => {
  const samples = ['', '~', 'null', 'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRUE', 'false', 'False', 'FALSE', '0', '-12', '+7', '0o17', '0o8', '0x1F', '0xg', '1_000', '0b101',
    '.5', '-.5', '1.', '1.5e3', '1e-3', '.inf', '-.Inf', '+.INF', '.nan', '.NaN', '.NAN', '-.nan', 'e5', '1.2.3', 'sha256', 'path', '9f2223aa', 'tokenizer/00/f00000.bin', ' 1', '1 ', '1\n'];
  for (const [name, fn] of Object.entries(checks)) {
    it(`${name} agrees with its regular expression`, () => {
      const ref = reference[name as keyof typeof reference];
      for (const s of samples) expect([s, fn(s)]).toEqual([s, ref(s)]);
      fc.assert(fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[-+.0-9eExXoOa-fA-FnNulLiI~]{0,8}$/)), (s) => fn(s) === ref(s)), { numRuns: 3000 });
    });
  }
});
