/** Owner tags in temp-file names: who made a partial or a host temp file, as far as this host can tell. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HOST_TAG, ownerTag, tagOwner } from '../lib/owner.ts';
import { isAbandoned } from '../lib/store/claim-partial.ts';
import { hostTempOwner } from '../lib/store/host-temps.ts';

/** a pid that existed and has exited (spawnSync waits for it) */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid;

describe('tagOwner', () => {
  it('reads the owner from names made with ownerTag()', () => {
    const sha = 'ab'.repeat(32);
    expect(tagOwner(`${sha}.${ownerTag()}.partial`, '.partial')).toBe('self');
    expect(tagOwner(`model.safetensors.${ownerTag()}.tmp`, '.tmp')).toBe('self');
    expect(tagOwner(`${sha}.${HOST_TAG}.${deadPid()}.0123456789ab.partial`, '.partial')).toBe('gone');
    expect(tagOwner(`${sha}.${HOST_TAG}.1.0123456789ab.partial`, '.partial')).toBe('alive'); // init
  });

  it('says unknown for another host, another suffix, or no tag', () => {
    expect(tagOwner(`x.other-host.${process.pid}.0123456789ab.tmp`, '.tmp')).toBe('unknown');
    expect(tagOwner(`x.${ownerTag()}.tmp`, '.partial')).toBe('unknown');
    expect(tagOwner('x.tmp', '.tmp')).toBe('unknown');
    expect(tagOwner(`${HOST_TAG}.notapid.0123456789ab.tmp`, '.tmp')).toBe('unknown');
  });

  it('serves the store partials and the host temp files alike', () => {
    const now = Date.now();
    const sha = 'cd'.repeat(32);
    // a dead owner's partial is taken at once, a live one's never, another host's after the minimum age
    expect(isAbandoned(`${sha}.${HOST_TAG}.${deadPid()}.0123456789ab.partial`, now, 60_000, now)).toBe(true);
    expect(isAbandoned(`${sha}.${HOST_TAG}.1.0123456789ab.partial`, now - 3_600_000, 60_000, now)).toBe(false);
    expect(isAbandoned(`${sha}.far.4242.0123456789ab.partial`, now - 1_000, 60_000, now)).toBe(false);
    expect(isAbandoned(`${sha}.far.4242.0123456789ab.partial`, now - 61_000, 60_000, now)).toBe(true);
    expect(hostTempOwner(`weights.bin.${HOST_TAG}.${deadPid()}.0123456789ab.tmp`)).toBe('gone');
  });

  it('counts age in whole milliseconds: a file written in this millisecond is 0 ms old, not younger', () => {
    // Date.now() drops the fraction a file's mtimeMs keeps: 1000 against 1000.6 is age 0, not -0.6
    const sha = 'cd'.repeat(32);
    expect(isAbandoned(`${sha}.1.x.partial`, 1_000.6, 0, 1_000)).toBe(true);
    expect(isAbandoned(`${sha}.far.4242.0123456789ab.partial`, 1_000.6, 60_000, 61_000)).toBe(true);
    expect(isAbandoned(`${sha}.far.4242.0123456789ab.partial`, 1_000.6, 60_000, 60_999)).toBe(false);
  });
});
