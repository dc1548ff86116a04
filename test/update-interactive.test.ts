/**
 * The interactive path: every question comes from lib/ui/prompts.ts, which is
 * replaced here (the changesets way: mock our prompt module, never inquirer).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CancelledError } from '../lib/errors.ts';
import { hostFilePath } from '../lib/layout.ts';
import { listFiles, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, tempProject } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

vi.mock('../lib/ui/prompts.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../lib/ui/prompts.ts')>();
  return { ...real, askLabels: vi.fn(), askOptionalArtifacts: vi.fn(), askSource: vi.fn(), confirmRepairs: vi.fn(), confirmPrune: vi.fn() };
});
const prompts = await import('../lib/ui/prompts.ts');
const mocked = vi.mocked(prompts);

let server: FaultServer;
let p: Awaited<ReturnType<typeof tempProject>>;
const tty = { isTTY: true, env: { CI: '' } };

beforeEach(async () => {
  vi.clearAllMocks();
  const artifacts = sampleArtifacts();
  server = await startFaultServer({ files: serverFiles(artifacts) });
  p = await tempProject(
    manifestYaml({
      artifacts,
      sources: [{ name: 'mirror', url: server.url }, { name: 'backup', url: server.url }],
      require: [['student/v0_ja', 'student/v0_en']],
    }),
  );
});
afterEach(() => server.close());

describe('interactive update', () => {
  it('asks for languages, optional artifacts and the source before any download', async () => {
    mocked.askLabels.mockImplementation(async (key) => {
      expect(server.requests).toHaveLength(0); // questions come first
      return ['ja'];
    });
    mocked.askOptionalArtifacts.mockResolvedValue(['teacher/v0']);
    mocked.askSource.mockResolvedValue('backup');
    const run = await runCliCaptured(['update', '--manifest', p.manifest], tty);
    expect(run.code).toBe(0);
    expect(mocked.askLabels).toHaveBeenCalledTimes(1);
    expect(mocked.askLabels).toHaveBeenCalledWith('lang', ['en', 'ja']);
    expect(mocked.askOptionalArtifacts).toHaveBeenCalled();
    expect(mocked.askSource).toHaveBeenCalled();
    expect(await listFiles(p.hostDir)).toEqual(
      expect.arrayContaining(['student/v0_ja/model.safetensors', 'teacher/v0/model.safetensors']),
    );
    expect((await listFiles(p.hostDir)).some((f) => f.startsWith('student/v0_en'))).toBe(false);
    expect(run.stderr).toMatch(/Sources, in order: backup/);
  });

  it('flags answer the questions: nothing is asked', async () => {
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--labels', 'lang=en', '--source', 'mirror'], tty);
    expect(r.code).toBe(0);
    expect(mocked.askLabels).not.toHaveBeenCalled();
    expect(mocked.askOptionalArtifacts).not.toHaveBeenCalled();
    expect(mocked.askSource).not.toHaveBeenCalled();
  });

  it('--include-optional answers the optional-artifacts question', async () => {
    mocked.askLabels.mockResolvedValue(['en', 'ja']);
    mocked.askSource.mockResolvedValue('mirror');
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--include-optional'], tty);
    expect(r.code).toBe(0);
    expect(mocked.askOptionalArtifacts).not.toHaveBeenCalled();
    expect(await listFiles(p.hostDir)).toContain('teacher/v0/model.safetensors');
  });

  it('--yes, CI and --json never ask', async () => {
    for (const [args, env] of [
      [['--yes'], { CI: '' }],
      [[], { CI: 'true' }],
      [['--json'], { CI: '' }],
    ] as const) {
      const r = await runCliCaptured(['update', '--manifest', p.manifest, ...args], { isTTY: true, env });
      expect(r.code).toBe(0);
    }
    expect(mocked.askLabels).not.toHaveBeenCalled();
    expect(mocked.askSource).not.toHaveBeenCalled();
  });

  it('Ctrl+C at a prompt exits 130 and changes nothing', async () => {
    mocked.askLabels.mockRejectedValue(new CancelledError());
    const r = await runCliCaptured(['update', '--manifest', p.manifest], tty);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('Cancelled: nothing was changed.');
    expect(server.requests).toHaveLength(0);
    await expect(fs.access(p.hostDir)).rejects.toThrow();
  });

  it('asks before replacing a file modified on the host; "no" leaves it as it was', async () => {
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes'], tty)).code).toBe(0);
    const file = hostFilePath(p.hostDir, 'student/v0_ja', 'config.json');
    await fs.chmod(file, 0o644);
    await fs.writeFile(file, '{"lang":"xx"}\n');
    mocked.askLabels.mockResolvedValue(['en', 'ja']);
    // role is not asked: every required artifact is a student
    mocked.askOptionalArtifacts.mockResolvedValue([]);
    mocked.askSource.mockResolvedValue('mirror');
    mocked.confirmRepairs.mockResolvedValue(false);
    const declined = await runCliCaptured(['update', '--manifest', p.manifest], tty);
    expect(declined.code).toBe(0);
    expect(mocked.confirmRepairs).toHaveBeenCalledWith([expect.objectContaining({ artifactId: 'student/v0_ja', path: 'config.json' })]);
    expect(await fs.readFile(file, 'utf8')).toBe('{"lang":"xx"}\n');

    mocked.confirmRepairs.mockResolvedValue(true);
    const accepted = await runCliCaptured(['update', '--manifest', p.manifest], tty);
    expect(accepted.code).toBe(0);
    expect(await fs.readFile(file, 'utf8')).toBe('{"lang":"ja"}\n');
    expect(path.basename(file)).toBe('config.json');
  });

  it('--prune asks which installed artifacts leave the mounted set; yes prunes, Ctrl+C changes nothing', async () => {
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--include-optional'], tty)).code).toBe(0);
    const installed = async () => {
      const r = await runCliCaptured(['status', '--manifest', p.manifest, '--json', '--no-docker']);
      return (JSON.parse(r.stdout).artifacts as { id: string; selected: boolean }[]).filter((a) => a.selected).map((a) => a.id);
    };
    mocked.askSource.mockResolvedValue('mirror');
    mocked.confirmPrune.mockRejectedValueOnce(new CancelledError());
    const cancelled = await runCliCaptured(['update', '--manifest', p.manifest, '--prune', '--only', 'student/v0_en'], tty);
    expect(cancelled.code).toBe(130); // Ctrl+C at a question
    expect(mocked.confirmPrune).toHaveBeenCalledWith(['student/v0_ja', 'teacher/v0']);
    expect(await installed()).toEqual(['student/v0_ja', 'student/v0_en', 'teacher/v0']);

    mocked.confirmPrune.mockResolvedValueOnce(true);
    const pruned = await runCliCaptured(['update', '--manifest', p.manifest, '--prune', '--only', 'student/v0_en'], tty);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(await installed()).toEqual(['student/v0_en']);
  });

  it('without --prune nothing is asked about removal: an update adds', async () => {
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--only', 'student/v0_ja'], tty)).code).toBe(0);
    mocked.askSource.mockResolvedValue('mirror');
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--only', 'student/v0_en'], tty);
    expect(r.code, r.stderr).toBe(0);
    expect(mocked.confirmPrune).not.toHaveBeenCalled();
    expect(r.stderr).toContain('Keeping the installed student/v0_ja');
  });
});
