/**
 * File names up to the manifest's limit (255 bytes) install: no temp name modelmount makes (host
 * temp files, store partials, atomic writes) grows past the file system's 255-byte limit, and each
 * still names its owner for the sweeps and gc.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../lib/fs-atomic.ts';
import { hostFilePath } from '../lib/layout.ts';
import { NAME_MAX_BYTES, taggedName, tagOwner } from '../lib/owner.ts';
import { hostTempOwner } from '../lib/store/host-temps.ts';
import { manifestYaml, runCliCaptured, serverFiles, sha256, tempDir, tempProject, type TestArtifact } from './helpers/cli.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const servers: FaultServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const bytes = (s: string) => Buffer.byteLength(s);
const ASCII_240 = `${'m'.repeat(232)}.weights`;
const UTF8_250 = `${'é'.repeat(121)}.weights`; // 2-byte characters: a cut in the middle of one would be invalid UTF-8
const ASCII_255 = 'w'.repeat(255);

describe('taggedName', () => {
  for (const base of ['config.json', ASCII_240, UTF8_250, ASCII_255]) {
    it(`a ${bytes(base)}-byte name: at most ${NAME_MAX_BYTES} bytes, valid UTF-8, the owner readable`, () => {
      for (const suffix of ['.tmp', '.partial']) {
        const name = taggedName(base, suffix);
        expect(bytes(name)).toBeLessThanOrEqual(NAME_MAX_BYTES);
        expect(Buffer.from(name).toString('utf8')).toBe(name);
        expect(name).not.toContain('\uFFFD');
        expect(tagOwner(name, suffix)).toBe('self');
        if (bytes(base) < 150) expect(name.startsWith(`${base}.`)).toBe(true); // short names are kept whole
      }
      expect(hostTempOwner(taggedName(base, '.tmp'))).toBe('self');
    });
  }
});

describe('long file names', () => {
  it('writeFileAtomic writes a file whose name is 255 bytes', async () => {
    const dir = await tempDir();
    const file = path.join(dir, ASCII_255);
    await writeFileAtomic(file, 'x');
    expect(await fs.readFile(file, 'utf8')).toBe('x');
    expect(await fs.readdir(dir)).toEqual([ASCII_255]);
  });

  it('update installs files named with 240 (ASCII) and 250 (UTF-8) bytes, and again after a change', async () => {
    const artifact: TestArtifact = {
      id: 'long/names',
      files: [
        { path: ASCII_240, data: randomBytes(5000) },
        { path: `sub/${UTF8_250}`, data: randomBytes(3000) },
      ],
    };
    const s = await startFaultServer({ files: serverFiles([artifact]) });
    servers.push(s);
    const p = await tempProject(manifestYaml({ artifacts: [artifact], sources: [{ name: 'mirror', url: s.url }] }));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.stderr + r.stdout).not.toMatch(/ENAMETOOLONG/);
    expect(r.code).toBe(0);
    for (const f of artifact.files) expect(sha256(await fs.readFile(hostFilePath(p.hostDir, artifact.id, f.path)))).toBe(sha256(f.data));
    // a new version replaces the installed one through the same temp names
    const v2: TestArtifact = { ...artifact, files: artifact.files.map((f) => ({ ...f, data: randomBytes(4000) })) };
    for (const [k, v] of Object.entries(serverFiles([v2]))) s.setFile(k, v);
    await fs.writeFile(p.manifest, manifestYaml({ artifacts: [v2], sources: [{ name: 'mirror', url: s.url }] }));
    const again = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(again.code).toBe(0);
    for (const f of v2.files) expect(sha256(await fs.readFile(hostFilePath(p.hostDir, v2.id, f.path)))).toBe(sha256(f.data));
  });
});
