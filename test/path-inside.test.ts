/** lib/path-inside.ts: the one "is this path in that folder" every module uses. */
import { describe, expect, it } from 'vitest';
import { isSameOrInside, relativeInside } from '../lib/path-inside.ts';

describe('relativeInside / isSameOrInside', () => {
  it('the folder itself is inside, as ""', () => {
    expect(relativeInside('/srv/models', '/srv/models')).toBe('');
    expect(relativeInside('/srv/models', '/srv/models/')).toBe('');
    expect(isSameOrInside('/srv/models', '/srv/models')).toBe(true);
  });

  it('a path below is inside, relative', () => {
    expect(relativeInside('/srv/models', '/srv/models/a/b.bin')).toBe('a/b.bin');
    expect(isSameOrInside('/srv/models/a', '/srv/models')).toBe(true);
  });

  it('a name that merely starts with two dots is inside', () => {
    expect(relativeInside('/srv/models', '/srv/models/..foo')).toBe('..foo');
    expect(relativeInside('/srv/models', '/srv/models/...')).toBe('...');
    expect(isSameOrInside('/srv/models/..foo/x', '/srv/models')).toBe(true);
  });

  it('the parent, a sibling and a sibling sharing a prefix are outside', () => {
    expect(relativeInside('/srv/models', '/srv')).toBeUndefined();
    expect(relativeInside('/srv/models', '/srv/other')).toBeUndefined();
    expect(relativeInside('/srv/models', '/srv/models-old/x')).toBeUndefined();
    expect(relativeInside('/srv/models', '/srv/models/../x')).toBeUndefined();
    expect(isSameOrInside('/', '/srv')).toBe(false);
  });

  it('everything is inside the root', () => {
    expect(isSameOrInside('/etc', '/')).toBe(true);
    expect(relativeInside('/', '/')).toBe('');
  });
});
