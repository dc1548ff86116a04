/**
 * The interactive path for real: the CLI process on a pseudo-terminal (util-linux `script`),
 * real inquirer prompts answered with keystrokes, the live listr2 renderer.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostFilePath } from '../lib/layout.ts';
import { manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, sha256, tempProject } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';
import { CTRL_C, DOWN, ENTER, SPACE, hasScript, onTerminal } from './helpers/terminal.ts';

describe.skipIf(!hasScript)('on a real terminal', () => {
  let server: FaultServer;
  let p: Awaited<ReturnType<typeof tempProject>>;
  const artifacts = sampleArtifacts();

  beforeEach(async () => {
    server = await startFaultServer({ files: serverFiles(artifacts) });
    p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }, { name: 'backup', url: server.url }] }));
  });
  afterEach(() => server.close());

  it('Ctrl+C at the first question exits 130 (so `update && docker compose up` stops) and changes nothing', async () => {
    const s = onTerminal(['update', '--manifest', p.manifest]);
    await s.waitFor('Which lang do you need?');
    s.type(CTRL_C);
    expect(await s.exit).toBe(130);
    expect(s.output()).toContain('Cancelled: nothing was changed.');
    expect(server.requests).toHaveLength(0);
    await expect(fs.access(p.hostDir)).rejects.toThrow();
  }, 60_000);

  it('answers with keys: only English, plus the optional teacher, from the second source', async () => {
    const s = onTerminal(['update', '--manifest', p.manifest]);
    await s.waitFor('Which lang do you need?');
    s.type(DOWN + SPACE + ENTER); // both start ticked, cursor on en: untick ja
    await s.waitFor('Also install these optional artifacts?');
    s.type(SPACE + ENTER);
    await s.waitFor('Which source should be tried first?');
    s.type(DOWN + ENTER);
    expect(await s.exit).toBe(0);
    const screen = s.output();
    expect(screen).toContain('Sources, in order: backup');
    expect(screen).toMatch(/OK:(\x1b\[39m)? 2 files installed/);
    const en = artifacts.find((a) => a.id === 'student/v0_en')!.files[0]!;
    expect(sha256(await fs.readFile(hostFilePath(p.hostDir, 'student/v0_en', en.path)))).toBe(sha256(en.data));
    await expect(fs.access(path.join(p.hostDir, 'student', 'v0_ja'))).rejects.toThrow();
    await fs.access(hostFilePath(p.hostDir, 'teacher/v0', 'model.safetensors'));
  }, 60_000);

  describe('an optional artifact whose label value the label question does not offer', () => {
    // a multilingual teacher: lang=multi is no answer to "Which lang do you need?" (ja / en)
    const withTeacher = sampleArtifacts();
    withTeacher[2]!.labels = { role: 'teacher', lang: 'multi' };
    let q: Awaited<ReturnType<typeof tempProject>>;
    beforeEach(async () => {
      await server.close();
      server = await startFaultServer({ files: serverFiles(withTeacher) });
      q = await tempProject(manifestYaml({ artifacts: withTeacher, sources: [{ name: 'mirror', url: server.url }] }));
    });

    it('--include-optional takes it after the label question', async () => {
      const s = onTerminal(['update', '--manifest', q.manifest, '--include-optional', '--no-compose']);
      await s.waitFor('Which lang do you need?');
      s.type(ENTER); // both languages
      expect(await s.exit).toBe(0);
      expect(s.output()).not.toContain('Also install these optional artifacts?');
      await fs.access(hostFilePath(q.hostDir, 'teacher/v0', 'model.safetensors'));
    }, 60_000);

    it('without the flag, the optional question offers it', async () => {
      const s = onTerminal(['update', '--manifest', q.manifest, '--no-compose']);
      await s.waitFor('Which lang do you need?');
      s.type(DOWN + SPACE + ENTER); // English only
      await s.waitFor('teacher/v0');
      s.type(SPACE + ENTER);
      expect(await s.exit).toBe(0);
      await fs.access(hostFilePath(q.hostDir, 'teacher/v0', 'model.safetensors'));
      await expect(fs.access(path.join(q.hostDir, 'student', 'v0_ja'))).rejects.toThrow();
    }, 60_000);
  });

  it('--prune asks before removing an artifact from the mounted set; "no" changes nothing', async () => {
    const first = onTerminal(['update', '--manifest', p.manifest, '--yes', '--no-compose']);
    expect(await first.exit).toBe(0);
    const s = onTerminal(['update', '--manifest', p.manifest, '--prune', '--only', 'student/v0_ja', '--source', 'mirror', '--no-compose']);
    await s.waitFor('student/v0_en');
    await s.waitFor('(y/N)');
    s.type('n' + ENTER);
    expect(await s.exit).toBe(0);
    expect(s.output()).toContain('Cancelled: nothing was changed.');
    const status = await runCliCaptured(['status', '--manifest', p.manifest, '--json', '--no-docker']);
    expect((JSON.parse(status.stdout).artifacts as { id: string; selected: boolean }[]).filter((a) => a.selected).map((a) => a.id)).toEqual(['student/v0_ja', 'student/v0_en']);
  }, 60_000);

  it('bootstrap: checks first, labels a plain http source http, asks again after an invalid URL, then installs', async () => {
    const s = onTerminal(['bootstrap', '--manifest', p.manifest, '--no-smoke']);
    await s.waitFor('Where should the models come from?');
    const screen = s.output();
    // the prerequisite checks ran and were shown before the first question
    expect(screen.indexOf('Node.js')).toBeGreaterThan(-1);
    expect(screen.indexOf('Node.js')).toBeLessThan(screen.indexOf('Where should the models come from?'));
    expect(screen).toContain(`mirror (http: ${server.url}`);
    s.type(DOWN + DOWN + ENTER); // "another URL or folder…"
    await s.waitFor('Base URL');
    s.type(`ftp://example.org/models/${ENTER}`);
    await s.waitFor('unsupported url scheme "ftp://"');
    // asked again: erase the bad answer and type a good one
    s.type('\x7f'.repeat(40) + server.url + ENTER);
    await s.waitFor('Host folder for the models');
    s.type(ENTER);
    await s.waitFor('Which lang do you need?');
    s.type(ENTER);
    await s.waitFor('Also install these optional artifacts?');
    s.type(ENTER);
    expect(await s.exit).toBe(0);
    expect(s.output()).not.toContain('--source-url');
    expect(s.output()).toMatch(/OK:(\x1b\[39m)? 3 files installed/);
  }, 60_000);

  it('colour on the terminal; NO_COLOR turns it off', async () => {
    const colored = onTerminal(['verify', '--manifest', p.manifest]);
    expect(await colored.exit).not.toBe(0); // nothing installed yet
    expect(colored.output()).toMatch(/\x1b\[31m✖\x1b\[39m/);
    const plain = onTerminal(['verify', '--manifest', p.manifest], { env: { NO_COLOR: '1' } });
    expect(await plain.exit).not.toBe(0);
    expect(plain.output()).toMatch(/^✖ /m);
    expect(plain.output()).not.toMatch(/\x1b\[3\dm✖/);
  }, 60_000);
});

