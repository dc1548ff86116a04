/** Release sets (pure), release folders (real temp folders), what gc may remove, and the image expects label. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { expectsAgrees } from '../lib/doctor/checks/release-binding.ts';
import { hostStatePath, releaseDir } from '../lib/layout.ts';
import { buildRelease, releaseIntact } from '../lib/releases/build.ts';
import { planReleaseGc } from '../lib/releases/gc.ts';
import { artifactDigest, releaseMountsOf, releaseSetOf, rollbackTarget, withCurrentSet, writeReleaseRecord, type ReleaseRecord } from '../lib/releases/record.ts';
import { StateCache } from '../lib/verify/state-cache.ts';
import { makeFixture, sha256, type Fixture } from './helpers/compose-fixture.ts';

const file = (p: string, content: string) => ({ path: p, size: Buffer.byteLength(content), sha256: sha256(content) });
const art = (id: string, v: string) => ({ id, labels: {}, optional: false, files: [file('a.txt', v), file('b.txt', v)] });

describe('release sets (pure)', () => {
  it('digests name the content: order of files or artifacts does not matter, any byte does', () => {
    const a = [file('a', '1'), file('b', '2')];
    expect(artifactDigest(a)).toBe(artifactDigest([...a].reverse()));
    expect(artifactDigest(a)).not.toBe(artifactDigest([file('a', '1'), file('b', '3')]));
    const s1 = releaseSetOf([art('x', 'v1'), art('y', 'v1')], 't');
    expect(releaseSetOf([art('y', 'v1'), art('x', 'v1')], 'u').digest).toBe(s1.digest);
    expect(releaseSetOf([art('x', 'v1'), art('y', 'v2')], 't').digest).not.toBe(s1.digest);
  });

  it('keeps the newest keepReleases sets; rollback goes to the one before the current one, or --to a unique prefix', () => {
    let r: ReleaseRecord | undefined;
    const sets = ['v1', 'v2', 'v3', 'v4'].map((v) => releaseSetOf([art('x', v)], v));
    for (const s of sets) r = withCurrentSet(r, '/m.yaml', s, 3);
    expect(r!.sets.map((s) => s.createdAt)).toEqual(['v4', 'v3', 'v2']);
    expect(rollbackTarget(r!)?.createdAt).toBe('v3');
    const back = { ...r!, current: sets[2]!.digest };
    expect(rollbackTarget(back)?.createdAt).toBe('v2');
    expect(rollbackTarget({ ...r!, current: sets[1]!.digest })).toBeUndefined(); // nothing older kept
    expect(rollbackTarget(r!, sets[1]!.digest.slice(0, 10))?.createdAt).toBe('v2');
    expect(rollbackTarget(r!, sets[0]!.digest)).toBeUndefined(); // pushed out of the window
    // the same set again keeps its first date and moves to the front
    expect(withCurrentSet(back, '/m.yaml', releaseSetOf([art('x', 'v3')], 'later'), 3).sets.map((s) => s.createdAt)).toEqual(['v3', 'v4', 'v2']);
  });

  it('mounts an artifact from its release only when the current set has it; the set label only for exactly that set', () => {
    const s = releaseSetOf([art('x', 'v1'), art('y', 'v1')], 't');
    const r = withCurrentSet(undefined, '/m.yaml', s, 3);
    const both = releaseMountsOf('/h', r, [art('x', 'v1'), art('y', 'v1')]);
    expect(both.set).toBe(s.digest);
    expect(both.byId.x!.source).toBe(releaseDir('/h', 'x', s.artifacts.x!.digest));
    const one = releaseMountsOf('/h', r, [art('x', 'v1'), art('z', 'v1')]);
    expect(one.set).toBeUndefined();
    expect(Object.keys(one.byId)).toEqual(['x']);
  });

  it('io.modelmount.expects: a set digest prefix, or id=artifact digest prefixes; too short or other versions disagree', () => {
    const s = releaseSetOf([art('student/v0_ja', 'v1')], 't');
    const d = s.artifacts['student/v0_ja']!.digest;
    expect(expectsAgrees(s.digest.slice(0, 12), s)).toBe(true);
    expect(expectsAgrees(s.digest.slice(0, 3), s)).toBe(false);
    expect(expectsAgrees(`student/v0_ja=${d.slice(0, 8)}`, s)).toBe(true);
    expect(expectsAgrees(`student/v0_ja=${artifactDigest(art('a', 'v2').files).slice(0, 8)}`, s)).toBe(false);
    expect(expectsAgrees(`student/v0_en=${d.slice(0, 8)}`, s)).toBe(false);
  });
});

describe('release folders', () => {
  let fx: Fixture | undefined;
  afterEach(async () => {
    await fx?.cleanup();
    fx = undefined;
  });

  it('a release is the same inodes as the verified files, made whole; a host file that changed is refused and nothing appears', async () => {
    fx = await makeFixture();
    const [ja] = fx.artifacts;
    const hostCache = await StateCache.load(hostStatePath(fx.manifest.hostDir), 'host');
    const digest = artifactDigest(ja!.files);
    expect(await buildRelease({ hostDir: fx.manifest.hostDir, hostCache }, ja!.id, digest, ja!.files)).toBe('built');
    const dir = releaseDir(fx.manifest.hostDir, ja!.id, digest);
    expect(await releaseIntact(dir, ja!.files)).toBe(true);
    const host = await fs.stat(path.join(fx.manifest.hostDir, ja!.id, 'model.bin'));
    const rel = await fs.stat(path.join(dir, 'model.bin'));
    expect([rel.ino, rel.nlink]).toEqual([host.ino, 2]);
    expect(await buildRelease({ hostDir: fx.manifest.hostDir, hostCache }, ja!.id, digest, ja!.files)).toBe('exists');

    // another version whose host file does not hold the manifest's bytes: no release folder at all
    const other = [{ ...ja!.files[0]!, sha256: sha256('something else') }, ...ja!.files.slice(1)];
    const otherDigest = artifactDigest(other);
    await expect(buildRelease({ hostDir: fx.manifest.hostDir, hostCache }, ja!.id, otherDigest, other)).rejects.toMatchObject({ code: 'EINTEGRITY' });
    expect(await fs.stat(releaseDir(fx.manifest.hostDir, ja!.id, otherDigest)).then(() => true, () => false)).toBe(false);
    expect((await fs.readdir(path.join(fx.manifest.hostDir, '.modelmount', 'tmp'))).filter((n) => n.startsWith('release-'))).toEqual([]);
  });

  it('gc keeps releases in a keep window, mounted by the override or by a container; without Docker it removes none', async () => {
    fx = await makeFixture();
    const hostDir = fx.manifest.hostDir;
    const mk = async (d: string) => {
      await fs.mkdir(releaseDir(hostDir, 'student/v0_ja', d), { recursive: true });
      return releaseDir(hostDir, 'student/v0_ja', d);
    };
    const [kept, byOverride, byContainer, old] = await Promise.all(['a', 'b', 'c', 'd'].map((c) => mk(c.repeat(64))));
    const record: ReleaseRecord = {
      version: 1,
      manifestPath: fx.manifest.path,
      current: 'f'.repeat(64),
      sets: [{ digest: 'f'.repeat(64), createdAt: 't', artifacts: { 'student/v0_ja': { digest: 'a'.repeat(64), files: [] } } }],
    };
    await writeReleaseRecord(hostDir, record);
    const plan = await planReleaseGc(hostDir, { overrideSources: [byOverride!], inUse: { reachable: true, sources: new Set([byContainer!]) } });
    expect(plan.removals.map((r) => r.path)).toEqual([old]);
    expect(Object.fromEntries(plan.kept.map((k) => [k.path, k.why[0]]))).toEqual({
      [kept!]: `in the current release set of ${fx.manifest.path}`,
      [byOverride!]: 'mounted by the Compose override',
      [byContainer!]: 'mounted by a container (running or stopped)',
    });
    const blind = await planReleaseGc(hostDir, { overrideSources: [], inUse: { reachable: false, sources: new Set() } });
    expect(blind.removals).toEqual([]);
    expect(blind.held).toMatch(/Docker did not answer/);
  });
});
