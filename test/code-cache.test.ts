/**
 * The built bin's V8 code cache (scripts/bundle-loader.mjs): one file per bundle build, command and
 * Node version in <tmpdir>/modelmount-code-cache-<uid> (or MODELMOUNT_CODE_CACHE), written after a
 * run that succeeded, read only from a folder of this user no one else may write to, and never
 * needed to run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from './helpers/real-cli.ts';


function run(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, CI: 'true', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cacheHome(): { home: string; dir: string } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmount-cc-'));
  return { home, dir: path.join(home, 'cache') };
}

const files = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

describe('the code cache', () => {
  it('is written by the first run of a command, used (not rewritten) by the next, one file per command', () => {
    const { home, dir } = cacheHome();
    const first = run(['--version'], { MODELMOUNT_CODE_CACHE: dir });
    expect(first.status, first.stderr).toBe(0);
    const [file] = files(dir);
    expect(file).toMatch(new RegExp(`^[0-9a-f]{32}\\.none\\.${process.version.replace(/\./g, '\\.')}-${process.arch}\\.v8$`));
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    const before = fs.statSync(path.join(dir, file!)).mtimeMs;
    const again = run(['--version'], { MODELMOUNT_CODE_CACHE: dir });
    expect(again.stdout).toBe(first.stdout);
    expect(fs.statSync(path.join(dir, file!)).mtimeMs).toBe(before);
    expect(run(['update', '--help'], { MODELMOUNT_CODE_CACHE: dir }).status).toBe(0);
    expect(files(dir).map((f) => f.split('.')[1])).toEqual(['none', 'update-help']);
  });

  it('a run that fails writes none', () => {
    const { home, dir } = cacheHome();
    const r = run(['verify', '--manifest', path.join(home, 'missing.yaml')], { MODELMOUNT_CODE_CACHE: dir });
    expect(r.status).not.toBe(0);
    expect(files(dir)).toEqual([]);
  });

  it('a cache V8 rejects (not its bytes) is compiled anew and replaced', () => {
    const { home, dir } = cacheHome();
    expect(run(['--version'], { MODELMOUNT_CODE_CACHE: dir }).status).toBe(0);
    const file = path.join(dir, files(dir)[0]!);
    fs.writeFileSync(file, Buffer.alloc(4096, 7));
    const r = run(['--version'], { MODELMOUNT_CODE_CACHE: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(fs.readFileSync(file).equals(Buffer.alloc(4096, 7))).toBe(false);
  });

  it('a cache file that is a link is not read through, and is replaced by a file (the link\'s target untouched)', () => {
    const { home, dir } = cacheHome();
    expect(run(['--version'], { MODELMOUNT_CODE_CACHE: dir }).status).toBe(0);
    const name = path.join(dir, files(dir)[0]!);
    const elsewhere = path.join(home, 'elsewhere.v8');
    fs.renameSync(name, elsewhere); // a valid cache, reached only through the link
    fs.symlinkSync(elsewhere, name);
    const before = fs.readFileSync(elsewhere);
    const r = run(['--version'], { MODELMOUNT_CODE_CACHE: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.lstatSync(name).isFile()).toBe(true);
    expect(fs.readFileSync(elsewhere).equals(before)).toBe(true);
  });

  it('a folder others may write to is neither read nor written', () => {
    const { home, dir } = cacheHome();
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    const r = run(['--version'], { MODELMOUNT_CODE_CACHE: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(files(dir)).toEqual([]);
  });

  it('no folder (it cannot be made) or MODELMOUNT_CODE_CACHE=0: the run is the same, without a cache', () => {
    const { home, dir } = cacheHome();
    fs.writeFileSync(path.join(home, 'file'), '');
    const blocked = run(['--version'], { MODELMOUNT_CODE_CACHE: path.join(home, 'file', 'cache') });
    expect(blocked.status, blocked.stderr).toBe(0);
    expect(blocked.stderr).toBe('');
    const off = run(['--version'], { TMPDIR: home, MODELMOUNT_CODE_CACHE: '0' });
    expect(off.status, off.stderr).toBe(0);
    expect(off.stdout).toBe(blocked.stdout);
    expect(fs.readdirSync(home)).toEqual(['file']);
  });

  it('by default: <tmpdir>/modelmount-code-cache-<uid>', () => {
    const { home } = cacheHome();
    const env: Record<string, string> = { TMPDIR: home };
    const r = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8', env: { ...process.env, CI: 'true', ...env, MODELMOUNT_CODE_CACHE: '' } });
    expect(r.status, r.stderr).toBe(0);
    expect(files(path.join(home, `modelmount-code-cache-${process.getuid!()}`))).toHaveLength(1);
  });
});
