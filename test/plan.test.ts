import { describe, expect, it } from 'vitest';
import { isNoop, planUpdate, type PlanInput } from '../lib/plan.ts';
import type { Artifact } from '../lib/manifest/schema.ts';
import type { FileStatus } from '../lib/verify/verify-files.ts';

const sha = (c: string) => c.repeat(64);
const artifacts: Artifact[] = [
  { id: 'student/v0_ja', labels: {}, optional: false, files: [{ path: 'a.bin', size: 10, sha256: sha('a') }, { path: 'b.bin', size: 20, sha256: sha('b') }] },
  { id: 'student/v0_en', labels: {}, optional: false, files: [{ path: 'a.bin', size: 10, sha256: sha('a') }, { path: 'c.bin', size: 30, sha256: sha('c') }] },
];

function input(host: Record<string, FileStatus>, storeHas: string[] = [], extra: Partial<PlanInput> = {}): PlanInput {
  return { artifacts, host: new Map(Object.entries(host)), storeHas: new Set(storeHas), firstSourceKind: 'http', ...extra };
}

describe('planUpdate', () => {
  it('plans fetch for everything on an empty host, transferring shared bytes once', () => {
    const plan = planUpdate(input({}));
    expect(plan.files.map((f) => f.action)).toEqual(['fetch', 'fetch', 'fetch', 'fetch']);
    expect(plan.bytesToTransfer).toBe(10 + 20 + 30); // a.bin appears twice but is fetched once
    expect(plan.bytesToInstall).toBe(70);
    expect(isNoop(plan)).toBe(false);
  });

  it('skips verified files, relinks from the store, repairs modified files, copies from a file source', () => {
    const plan = planUpdate(
      input(
        { 'student/v0_ja/a.bin': 'ok', 'student/v0_ja/b.bin': 'modified', 'student/v0_en/a.bin': 'missing', 'student/v0_en/c.bin': 'size' },
        [sha('a')],
        { firstSourceKind: 'file' },
      ),
    );
    expect(plan.files.map((f) => [f.path, f.action, f.via])).toEqual([
      ['a.bin', 'skip', undefined],
      ['b.bin', 'repair', 'file'],
      ['a.bin', 'relink', 'store'],
      ['c.bin', 'repair', 'file'],
    ]);
    expect(plan.repairs.map((r) => r.reason)).toEqual(['content differs from the manifest on the host', 'wrong size on the host']);
    expect(plan.bytesToTransfer).toBe(50);
    expect(plan.counts).toEqual({ skip: 1, fetch: 0, copy: 0, relink: 1, repair: 2 });
  });

  it('is a no-op when every file is verified', () => {
    const all = Object.fromEntries(artifacts.flatMap((a) => a.files.map((f) => [`${a.id}/${f.path}`, 'ok' as const])));
    const plan = planUpdate(input(all));
    expect(isNoop(plan)).toBe(true);
    expect(plan.bytesToTransfer).toBe(0);
  });

  it('lists what offline mode cannot install', () => {
    const plan = planUpdate(input({}, [sha('a')], { offline: true }));
    expect(plan.missingOffline.map((f) => `${f.artifactId}/${f.path}`)).toEqual(['student/v0_ja/b.bin', 'student/v0_en/c.bin']);
  });

  it('is pure: same input, same plan, inputs untouched', () => {
    const i = input({ 'student/v0_ja/a.bin': 'modified' }, [sha('b')]);
    const before = JSON.stringify([...i.host], null, 0) + JSON.stringify([...i.storeHas]) + JSON.stringify(artifacts);
    expect(planUpdate(i)).toEqual(planUpdate(i));
    expect(JSON.stringify([...i.host], null, 0) + JSON.stringify([...i.storeHas]) + JSON.stringify(artifacts)).toBe(before);
  });
});
