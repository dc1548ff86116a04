/**
 * Output conventions (as git and docker): results on stdout, progress and status on stderr;
 * --quiet and --verbose; colour on a terminal honouring NO_COLOR and FORCE_COLOR.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import { colorWanted } from '../lib/ui/color.ts';
import { manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, tempProject } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const ESC = '\x1b[';
let server: FaultServer;
const artifacts = sampleArtifacts({ ja: 5000, en: 4000, teacher: 3000 });
beforeEach(async () => {
  server = await startFaultServer({ files: serverFiles(artifacts) });
});
afterEach(() => server.close());
const project = () => tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));

describe('stdout and stderr', () => {
  it('update: the summary is on stdout; the task list and status lines are on stderr', async () => {
    const p = await project();
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK: 3 files installed, 0 unchanged, 0 failed/m);
    expect(r.stdout).toContain(`Host folder: ${p.hostDir}`);
    expect(r.stdout).not.toMatch(/Installed student|Install student|Selected|Sources, in order/);
    expect(r.stderr).toMatch(/✔ Installed student\/v0_ja/);
    expect(r.stderr).toContain('Sources, in order: mirror');
    expect(r.stdout).not.toContain(ESC); // not a terminal: no colour
  });

  it('--quiet: nothing on stderr when all is well, the summary stays on stdout; a failure still shows', async () => {
    const p = await project();
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--quiet']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^OK: 3 files installed/m);
    const bad = await runCliCaptured(['update', '--manifest', path.join(p.dir, 'missing.yaml'), '-q']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^✖ /m);
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '-q', '--verbose'])).stderr).toContain('--quiet and --verbose contradict each other');
  });

  it('a file that fails (bad bytes from the source) is named on stderr with --quiet and with --json too, not only in the stdout summary or document', async () => {
    const p = await project();
    const file = artifacts[0]!.files[0]!;
    server.setFile(`/${artifacts[0]!.id}/${file.path}`, Buffer.alloc(file.data.length, 1));
    for (const flag of ['--quiet', '--json']) {
      const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', flag]);
      expect(r.code, flag).toBe(4);
      expect(r.stderr, flag).toMatch(new RegExp(`^\\s*✖ .*${file.path.replace('.', '\\.')}`, 'm'));
      if (flag === '--json') expect(JSON.parse(r.stdout).ok).toBe(false);
    }
  });

  it('--json: a Compose step that fails (a foreign file where the override goes) is on stderr too, and the document says the steps did not run', async () => {
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }], extra: 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: compose.models.yaml\n  containerDir: /models' }));
    await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
    await fs.writeFile(path.join(p.dir, 'compose.models.yaml'), 'services: {}\n');
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--json']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/^✖ .*compose\.models\.yaml/m);
    const doc = JSON.parse(r.stdout) as { compose: unknown; smoke: unknown };
    expect(doc.compose).toEqual({ failed: 'EOVERRIDE_FOREIGN' });
    expect(doc.smoke).toEqual({ notRun: 'EOVERRIDE_FOREIGN' });
  });

  it('an error before the command runs is one JSON document for every spelling of the switch (--json=1, --json=true), none after --no-json', async () => {
    const p = await project();
    for (const args of [['update', '--json=1', '--bogus'], ['verify', '--json=true', '--manifest', path.join(p.dir, 'nope.yaml')], ['update', '--json', '--bogus']]) {
      const r = await runCliCaptured(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect((JSON.parse(r.stdout) as { ok: boolean }).ok, args.join(' ')).toBe(false);
    }
    const off = await runCliCaptured(['update', '--json', '--no-json', '--bogus']);
    expect(off.code).toBe(2);
    expect(off.stdout).toBe('');
  });

  it('--verbose: the plan before the update, on stderr', async () => {
    const p = await project();
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--verbose']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^Plan:\n\s+fetch\s+student\/v0_ja\/model\.safetensors/m);
    expect(r.stdout).not.toContain('Plan:');
  });
});

describe('colour', () => {
  it('on a terminal unless NO_COLOR; FORCE_COLOR turns it on in a pipe; FORCE_COLOR=0 turns it off', () => {
    expect(colorWanted({}, true)).toBe(true);
    expect(colorWanted({ TERM: 'dumb' }, true)).toBe(false);
    expect(colorWanted({ NO_COLOR: '1' }, true)).toBe(false);
    expect(colorWanted({ NO_COLOR: '' }, true)).toBe(true);
    expect(colorWanted({}, false)).toBe(false);
    expect(colorWanted({ FORCE_COLOR: '1' }, false)).toBe(true);
    expect(colorWanted({ FORCE_COLOR: '0' }, true)).toBe(false);
    expect(colorWanted({ FORCE_COLOR: '1', NO_COLOR: '1' }, false)).toBe(false);
  });

  it('FORCE_COLOR paints the marks; NO_COLOR wins', async () => {
    const p = await project();
    const forced = await runCliCaptured(['update', '--manifest', p.manifest, '--yes'], { env: { FORCE_COLOR: '1' } });
    expect(forced.stdout).toMatch(/^\x1b\[32mOK:\x1b\[39m 3 files installed/m);
    const plain = await runCliCaptured(['verify', '--manifest', p.manifest], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(plain.code).toBe(0);
    expect(plain.stdout + plain.stderr).not.toContain(ESC);
  });
});
