/**
 * doctor's kept-versions check and listKept: previous versions a failed switch could not put back,
 * below <hostDir>/.modelmount/kept. Only a missing folder means "none": a folder that cannot be
 * read is a finding, never a pass that hides the user's only copy of a previous version.
 */
import type { PathLike } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DoctorContext } from '../lib/doctor/check.ts';
import { checkKeptVersions } from '../lib/doctor/checks/kept-versions.ts';
import { hostFilePath, keptDir } from '../lib/layout.ts';
import { shellQuote } from '../lib/shell.ts';
import { STALL_DEFAULTS } from '../lib/stall.ts';
import { keepBackup } from '../lib/store/keep-backup.ts';
import { listKept } from '../lib/store/list-kept.ts';
import { tempDir } from './helpers/cli.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';

afterEach(endHungLooks);

const A = 'student/v0_ja';

/** A host folder with `files` (artifact A's paths) kept aside as keepBackup names them. */
async function hostWithKept(files: string[]): Promise<{ hostDir: string; kept: string[] }> {
  const hostDir = await tempDir();
  const kept: string[] = [];
  for (const f of files) {
    const backup = path.join(hostDir, `backup-${kept.length}`);
    await fs.writeFile(backup, f);
    kept.push(await keepBackup(hostDir, A, f, backup, new Date('2026-11-30T20:10:00Z')));
    await fs.rm(backup);
  }
  return { hostDir, kept };
}

const check = (hostDir: string) => checkKeptVersions({ manifest: { hostDir } } as DoctorContext);

/** fs.readdir failing with `code` for `dir`, answering as usual elsewhere. */
function failReaddir(dir: string, code: string): void {
  const readdir = fs.readdir;
  vi.spyOn(fs, 'readdir').mockImplementation((async (p: PathLike, opts: unknown) => {
    if (String(p) === dir) throw Object.assign(new Error(`${code}: failed, scandir '${dir}'`), { code });
    return readdir(p, opts as never);
  }) as typeof fs.readdir);
}

describe('doctor kept-versions', () => {
  it('no kept folder (nor .modelmount): nothing kept, ok', async () => {
    const hostDir = await tempDir();
    expect(await check(hostDir)).toMatchObject([{ id: 'kept-versions', verdict: 'ok' }]);
    await fs.mkdir(path.join(hostDir, '.modelmount'));
    expect(await check(hostDir)).toMatchObject([{ id: 'kept-versions', verdict: 'ok' }]);
  });

  it('a kept folder that cannot be read (EACCES, EIO) is a finding naming it, not "no previous version is kept"', async () => {
    for (const code of ['EACCES', 'EIO']) {
      const { hostDir } = await hostWithKept(['model.safetensors']);
      failReaddir(keptDir(hostDir), code);
      const [finding, ...more] = await check(hostDir);
      expect(more).toEqual([]);
      expect(finding).toMatchObject({ id: 'kept-versions', verdict: 'warn' });
      expect(finding!.title).not.toMatch(/No previous version/);
      expect(finding!.message).toContain(keptDir(hostDir));
      expect(finding!.message).toContain(code);
      expect(finding!.fix).toContain(`ls -la ${keptDir(hostDir)}`);
      vi.restoreAllMocks();
    }
  });

  it('a kept sub-folder that cannot be read is a finding too (not skipped)', async () => {
    const { hostDir } = await hostWithKept(['model.safetensors']);
    const sub = path.join(keptDir(hostDir), 'student');
    failReaddir(sub, 'EACCES');
    const [finding] = await check(hostDir);
    expect(finding).toMatchObject({ id: 'kept-versions', verdict: 'warn' });
    expect(finding!.message).toContain(sub);
  });

  it('a file or a link where the kept folder belongs is a finding: what is there is not looked at, nor passed as "none"', async () => {
    const file = await tempDir();
    await fs.mkdir(path.join(file, '.modelmount'));
    await fs.writeFile(keptDir(file), 'not a folder');
    const link = await tempDir();
    await fs.mkdir(path.join(link, '.modelmount'));
    await fs.symlink((await hostWithKept(['model.safetensors'])).hostDir, keptDir(link));
    const linkedMeta = await tempDir();
    await fs.symlink(path.join((await hostWithKept(['model.safetensors'])).hostDir, '.modelmount'), path.join(linkedMeta, '.modelmount'));
    for (const [hostDir, at] of [[file, keptDir(file)], [link, keptDir(link)], [linkedMeta, path.join(linkedMeta, '.modelmount')]] as const) {
      const [finding] = await check(hostDir);
      expect(finding, hostDir).toMatchObject({ id: 'kept-versions', verdict: 'warn' });
      expect(finding!.message).toContain(at);
    }
  });
});

describe('listKept', () => {
  it('a file where the host folder belongs: nothing can be kept below it (ENOTDIR is nothing there, not an error)', async () => {
    const hostDir = path.join(await tempDir(), 'models');
    await fs.writeFile(hostDir, 'not a folder');
    expect(await listKept(hostDir)).toEqual([]);
  });
});

describe('doctor kept-versions: the command that restores each kept file', () => {
  it('is the real mv, shell-quoted, from the kept name (nested paths, spaces, a .<n> after the time)', async () => {
    const { hostDir, kept } = await hostWithKept(['shard/40.bin', 'my model.bin', 'my model.bin']);
    expect(kept[2]).toMatch(/Z\.1$/); // the same file kept twice in one second
    const [finding] = await check(hostDir);
    expect(finding).toMatchObject({ id: 'kept-versions', verdict: 'warn' });
    const dest = (f: string) => hostFilePath(hostDir, A, f);
    expect(finding!.fix).toContain(`\`mv ${shellQuote(kept[0]!)} ${shellQuote(dest('shard/40.bin'))}\``);
    expect(finding!.fix).toContain(`\`mv ${shellQuote(kept[1]!)} ${shellQuote(dest('my model.bin'))}\``);
    expect(finding!.fix).toContain(`\`mv ${shellQuote(kept[2]!)} ${shellQuote(dest('my model.bin'))}\``);
    expect(finding!.fix).toContain(`move away what is at ${dest('shard/40.bin')}`);
    expect(finding!.fix).not.toContain('<kept file>');
  });

  it('says the original path cannot be told where the name was shortened to fit 255 bytes, or is not one modelmount gives', async () => {
    const long = `${'x'.repeat(250)}.bin`;
    const { hostDir, kept } = await hostWithKept([long]);
    expect(Buffer.byteLength(path.basename(kept[0]!))).toBeLessThanOrEqual(255);
    const foreign = path.join(keptDir(hostDir), A, 'notes.txt');
    await fs.writeFile(foreign, 'the user put it here');
    // a name that is only a time: its "place" would be the artifact's folder itself
    const dots = path.join(keptDir(hostDir), A, '..20261130T201000Z');
    await fs.writeFile(dots, 'the user put it here too');
    const [finding] = await check(hostDir);
    expect(finding!.fix).not.toMatch(/`mv /);
    expect(finding!.fix).toContain(`${kept[0]}: its name may have been shortened`);
    expect(finding!.fix).toContain(`${foreign}: `);
    expect(finding!.fix).toContain(`${dots}: `);
    expect(finding!.fix).not.toContain(long);
  });
});

describe('listKept on a host folder that stops answering', () => {
  it('is a stall naming the kept folder (ESTALLED, exit 5) and how to move the host folder, not a hang', async () => {
    const { hostDir } = await hostWithKept(['model.safetensors']);
    const hung = hangFs('readdir', keptDir(hostDir));
    const err = await listKept(hostDir, { idleMs: 300 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ESTALLED', exitCode: 5 });
    expect((err as Error).message).toContain(keptDir(hostDir));
    expect((err as { hint?: string }).hint).toContain("or point --host-dir (or the manifest's hostDir) elsewhere");
  });

  it('an abort (Ctrl+C) ends the wait at once with its reason, whatever the bound; doctor passes it on, not as a finding', async () => {
    const { hostDir } = await hostWithKept(['model.safetensors']);
    const hung = hangFs('readdir', keptDir(hostDir));
    const ac = new AbortController();
    const listing = listKept(hostDir, { idleMs: 10 * 60_000, signal: ac.signal }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(hung.called()).toBe(true));
    ac.abort(new Error('Interrupted'));
    expect(await listing).toMatchObject({ message: 'Interrupted' });
    const aborted = AbortSignal.abort(new Error('Terminated'));
    const err = await checkKeptVersions({ manifest: { hostDir }, signal: aborted } as DoctorContext).catch((e: unknown) => e);
    expect(err).toMatchObject({ message: 'Terminated' });
  });

  it('doctor reports it as a kept-versions finding after the stall bound', async () => {
    const { hostDir } = await hostWithKept(['model.safetensors']);
    const hung = hangFs('readdir', path.join(keptDir(hostDir), 'student'));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const result = check(hostDir);
    await untilAsked(hung, result);
    await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
    const [finding] = await result;
    expect(finding).toMatchObject({ id: 'kept-versions', verdict: 'warn' });
    expect(finding!.message).toMatch(/stalled/);
    expect(finding!.message).toContain(keptDir(hostDir));
    expect(finding!.fix).toMatch(/remount/);
    // pointing elsewhere would hide what may be the only copy of a previous version
    expect(finding!.fix).not.toMatch(/--host-dir|--cache-dir/);
  });
});
