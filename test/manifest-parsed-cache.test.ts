/** A large validated manifest kept parsed (lib/manifest/parsed-cache.ts, issue 15): hits only for the same bytes, path and code. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadManifest, parseManifest } from '../lib/manifest/load.ts';
import { CACHE_MIN_BYTES, defaultParsedCache, parsedManifestOf, writeParsedManifest, type ParsedCache } from '../lib/manifest/parsed-cache.ts';
import type { Manifest } from '../lib/manifest/schema.ts';
import { STALL_DEFAULTS, stuckOperations, stuckOperationsSettled } from '../lib/stall.ts';
import { runCliCaptured, tempDir } from './helpers/cli.ts';
import { endHungLooks, hangFs, untilAsked } from './helpers/hung-fs.ts';
import { BIN } from './helpers/real-cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** a manifest of `n` files: above CACHE_MIN_BYTES from ~2,000 */
function manifestText(n: number, variant = 0): string {
  const lines = ['version: 1', 'hostDir: ./host', 'sources:', '  - name: origin', '    url: "https://example.com/m/"', 'artifacts:', '  - id: many', '    files:'];
  for (let i = 0; i < n; i++) {
    const sha = createHash('sha256').update(`${variant}:${i}`).digest('hex');
    lines.push(`      - {path: tokenizer/${String(i % 10)}/f${String(i).padStart(5, '0')}.bin, size: ${1000 + i}, sha256: ${sha}}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What parsedManifestOf gives without parsing: the kept manifest on a hit, undefined where it asked
 * for a parse (a miss). That parse throws, so a miss writes nothing the next look could read.
 */
async function keptManifest(cache: ParsedCache, file: string, text: string): Promise<Manifest | undefined> {
  let parsed = false;
  const miss = new Error('parse called');
  try {
    const kept = await parsedManifestOf(cache, file, text, () => {
      parsed = true;
      throw miss;
    });
    expect(parsed).toBe(false);
    return kept;
  } catch (err) {
    if (err !== miss) throw err;
    return undefined;
  }
}

async function setup() {
  const root = await tempDir();
  const cache: ParsedCache = { dir: path.join(root, 'cache', 'modelmount-manifests'), code: 'build-1' };
  const file = path.join(root, 'project', 'models.yaml');
  await fs.mkdir(path.dirname(file), { recursive: true });
  const text = manifestText(3000);
  expect(text.length).toBeGreaterThan(CACHE_MIN_BYTES);
  await fs.writeFile(file, text);
  return { root, cache, file, text };
}

/** setup() with the manifest kept (`entry`), last used `lastUsedAgoMs` ago when given */
async function setupKept(lastUsedAgoMs?: number) {
  const env = await setup();
  const parsed = parseManifest(env.text, env.file);
  await writeParsedManifest(env.cache, env.file, env.text, parsed);
  const [name] = await fs.readdir(env.cache.dir);
  const entry = path.join(env.cache.dir, name!);
  const lastUse = lastUsedAgoMs === undefined ? undefined : new Date(Date.now() - lastUsedAgoMs);
  if (lastUse) await fs.utimes(entry, lastUse, lastUse);
  return { ...env, parsed, name: name!, entry, lastUse };
}

describe('parsed manifest cache', () => {
  it('gives back exactly what the parse gave, for the same bytes, path and code only', async () => {
    const { cache, file, text } = await setup();
    expect(await keptManifest(cache, file, text)).toBeUndefined();
    const parsed = parseManifest(text, file);
    await writeParsedManifest(cache, file, text, parsed);
    expect(await keptManifest(cache, file, text)).toEqual(parsed);
    // one more file, the same text with one byte changed, another path, another build: misses
    expect(await keptManifest(cache, file, manifestText(3000, 1))).toBeUndefined();
    expect(await keptManifest(cache, file, text.replace('size: 1000,', 'size: 1001,'))).toBeUndefined();
    expect(await keptManifest(cache, `${file}.other`, text)).toBeUndefined();
    expect(await keptManifest({ ...cache, code: 'build-2' }, file, text)).toBeUndefined();
    const mode = (await fs.stat(cache.dir)).mode & 0o777;
    expect(mode).toBe(0o700);
  });

  it('loadManifest: a changed manifest is parsed again (and an invalid one is reported, never taken from the cache)', async () => {
    const { cache, file, text } = await setup();
    const first = await loadManifest(file, { parsedCache: cache });
    expect((await fs.readdir(cache.dir)).length).toBe(1);
    expect(await loadManifest(file, { parsedCache: cache })).toEqual(first);
    const changed = text.replace('size: 1000,', 'size: 1234,');
    await fs.writeFile(file, changed);
    const second = await loadManifest(file, { parsedCache: cache });
    expect(second.artifacts[0]!.files[0]!.size).toBe(1234);
    expect(second.digest).not.toBe(first.digest);
    await fs.writeFile(file, changed.replace('tokenizer/0/f00000.bin', '../escape.bin'));
    await expect(loadManifest(file, { parsedCache: cache })).rejects.toThrow(/not a safe relative path/);
    // back to the first bytes: the cache holds the last valid one, so this parses again and is right
    await fs.writeFile(file, text);
    expect(await loadManifest(file, { parsedCache: cache })).toEqual(first);
  });

  it('a small manifest is not kept', async () => {
    const { cache, file } = await setup();
    const small = manifestText(3);
    await writeParsedManifest(cache, file, small, parseManifest(small, file));
    expect(await fs.readdir(cache.dir).catch(() => [])).toEqual([]);
  });

  it('an entry that is not privately ours, a link, or corrupt is a miss', async () => {
    const { root, cache, file, text, parsed, name, entry } = await setupKept();
    await fs.chmod(entry, 0o622);
    expect(await keptManifest(cache, file, text)).toBeUndefined();
    await fs.chmod(entry, 0o600);
    await fs.chmod(cache.dir, 0o770);
    expect(await keptManifest(cache, file, text)).toBeUndefined();
    await fs.chmod(cache.dir, 0o700);
    expect(await keptManifest(cache, file, text)).toEqual(parsed);
    // the entry a link to a copy elsewhere
    const elsewhere = path.join(root, 'elsewhere.json');
    await fs.rename(entry, elsewhere);
    await fs.symlink(elsewhere, entry);
    expect(await keptManifest(cache, file, text)).toBeUndefined();
    await fs.rm(entry);
    // the folder a link to a private folder holding the entry
    const realDir = path.join(root, 'real-dir');
    await fs.mkdir(realDir, { mode: 0o700 });
    await fs.rename(elsewhere, path.join(realDir, name));
    await fs.rm(cache.dir, { recursive: true });
    await fs.symlink(realDir, cache.dir);
    expect(await keptManifest(cache, file, text)).toBeUndefined();
    // corrupt
    await fs.rm(cache.dir);
    await fs.mkdir(cache.dir, { mode: 0o700 });
    await fs.writeFile(path.join(cache.dir, name), '{"format":', { mode: 0o600 });
    expect(await keptManifest(cache, file, text)).toBeUndefined();
    // and a write through that folder link is never made
    await fs.rm(cache.dir, { recursive: true });
    await fs.symlink(realDir, cache.dir);
    await fs.rm(path.join(realDir, name));
    await writeParsedManifest(cache, file, text, parsed);
    expect(await fs.readdir(realDir)).toEqual([]);
  });

  it('builds keep their own entries side by side, at most four per manifest path', async () => {
    const { cache, file, text } = await setup();
    const parsed = parseManifest(text, file);
    for (let b = 1; b <= 6; b++) {
      await writeParsedManifest({ ...cache, code: `build-${b}` }, file, text, parsed);
      await new Promise((r) => setTimeout(r, 15)); // distinct mtimes
    }
    expect((await fs.readdir(cache.dir)).length).toBe(4);
    expect(await keptManifest({ ...cache, code: 'build-6' }, file, text)).toEqual(parsed);
    expect(await keptManifest({ ...cache, code: 'build-3' }, file, text)).toEqual(parsed);
    expect(await keptManifest({ ...cache, code: 'build-2' }, file, text)).toBeUndefined();
    // another manifest path does not count against this one's
    const other = `${file}.2`;
    await writeParsedManifest({ ...cache, code: 'build-1' }, other, text, parseManifest(text, other));
    expect((await fs.readdir(cache.dir)).length).toBe(5);
  });

  it("entries of any path not written for a week, and a day-old temp file, go at the next write; recent ones of other paths stay", async () => {
    const { cache, file, text } = await setup();
    const parsed = parseManifest(text, file);
    const gone = `${file}.gone`;
    const recent = `${file}.recent`;
    await writeParsedManifest(cache, gone, text, parseManifest(text, gone));
    await writeParsedManifest(cache, recent, text, parseManifest(text, recent));
    const old = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    const goneEntry = (await fs.readdir(cache.dir)).find((n) => n.startsWith(createHash('sha256').update(gone).digest('hex').slice(0, 24)))!;
    await fs.utimes(path.join(cache.dir, goneEntry), old, old);
    const tmp = path.join(cache.dir, 'x.json.host.1.abcd.tmp');
    await fs.writeFile(tmp, 'half');
    await fs.utimes(tmp, old, old);
    await writeParsedManifest(cache, file, text, parsed);
    expect(await keptManifest(cache, gone, text)).toBeUndefined();
    expect(await keptManifest(cache, recent, text)).toEqual(parseManifest(text, recent));
    expect(await keptManifest(cache, file, text)).toEqual(parsed);
    expect((await fs.readdir(cache.dir)).length).toBe(2);
  });

  it('a hit on an entry last used more than a day ago moves its mtime to now', async () => {
    const { cache, file, text, parsed, entry } = await setupKept(25 * 3600 * 1000);
    expect(await keptManifest(cache, file, text)).toEqual(parsed);
    expect(await stuckOperationsSettled(10_000)).toBe(true);
    expect((await fs.stat(entry)).mtimeMs).toBeGreaterThan(Date.now() - 3600 * 1000);
  });

  it('a hit counts as a use: an entry read every run is never pruned as old, whatever its write time', async () => {
    const { cache, file, text, parsed, entry } = await setupKept(8 * 24 * 3600 * 1000);
    expect(await keptManifest(cache, file, text)).toEqual(parsed);
    expect(await stuckOperationsSettled(10_000)).toBe(true); // the hit does not wait for its touch
    expect((await fs.stat(entry)).mtimeMs).toBeGreaterThan(Date.now() - 3600 * 1000);
    // the next write (another manifest's) prunes by mtime: the entry just used stays
    const other = `${file}.other`;
    await writeParsedManifest(cache, other, text, parseManifest(text, other));
    expect(await keptManifest(cache, file, text)).toEqual(parsed);
  });

  it("a hit does not wait for its touch (best effort): one that never returns (a hung mount) holds up nothing, and one that fails is ignored", async () => {
    const { cache, file, text, parsed } = await setupKept(8 * 24 * 3600 * 1000); // a hit touches only an entry not used for a day
    let release = () => {};
    const hung = new Promise<void>((resolve) => (release = resolve));
    const touch = vi.spyOn(fs, 'lutimes').mockImplementation(() => hung);
    try {
      const before = stuckOperations();
      expect(await keptManifest(cache, file, text)).toEqual(parsed);
      expect(touch).toHaveBeenCalledTimes(1);
      // left running: counted until it returns, so the entry point knows whether the process can end normally
      expect(stuckOperations()).toBe(before + 1);
      touch.mockRejectedValue(Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' }));
      expect(await keptManifest(cache, file, text)).toEqual(parsed);
      expect(touch).toHaveBeenCalledTimes(2); // the failing touch did run
    } finally {
      release();
      touch.mockRestore();
    }
    expect(await stuckOperationsSettled(10_000)).toBe(true);
  });

  it('a torn, zeroed or half-written entry is a miss, and the next write replaces it (entries are not fsynced)', async () => {
    const { cache, file, text, parsed, entry } = await setupKept();
    const whole = await fs.readFile(entry);
    // what a crash can leave of a file renamed before its data reached the disk
    for (const torn of [whole.subarray(0, whole.length >> 1), Buffer.alloc(whole.length), Buffer.alloc(0)]) {
      await fs.writeFile(entry, torn);
      expect(await keptManifest(cache, file, text)).toBeUndefined();
      expect(await loadManifest(file, { parsedCache: cache })).toEqual(parsed);
      expect((await fs.readFile(entry)).equals(whole)).toBe(true);
    }
    // a temp file of a write that never reached its rename is never read, and does not stop the next write
    await fs.rm(entry);
    await fs.writeFile(`${entry}.999999-dead.tmp`, whole.subarray(0, 100), { mode: 0o600 });
    expect(await keptManifest(cache, file, text)).toBeUndefined();
    await writeParsedManifest(cache, file, text, parsed);
    expect(await keptManifest(cache, file, text)).toEqual(parsed);
  });

  it('from the sources (vitest, tsx) there is no cache: only the bundle has a build hash', () => {
    expect(defaultParsedCache({ XDG_CACHE_HOME: '/nowhere' })).toBeUndefined();
  });

  it('the bundle keys entries by the hash of its code: a copy of the same build hits, another build with the same mtime misses', async () => {
    const { root, file } = await setup();
    const env = { ...process.env, CI: 'true', XDG_CACHE_HOME: path.join(root, 'xdg'), MODELMOUNT_CODE_CACHE: '0' };
    const dir = path.join(root, 'xdg', 'modelmount-manifests');
    const check = (bin: string) => {
      const r = spawnSync(process.execPath, [bin, 'manifest', 'check', file], { encoding: 'utf8', env });
      expect(r.status, r.stderr).toBe(0);
    };
    check(BIN); // rebuilds dist/cli first when a source is newer
    const main = await fs.readFile(path.join(ROOT, 'dist', 'cli', 'modelmount-main.js'), 'utf8');
    const build = /^\/\/ modelmount build ([0-9a-f]+)\n/.exec(main)![1];
    const [name] = await fs.readdir(dir);
    expect(JSON.parse(await fs.readFile(path.join(dir, name!), 'utf8')).code).toBe(build);
    const written = (await fs.stat(path.join(dir, name!))).ino;
    // a reinstall: the same build in other files (two levels below the root, where node_modules resolves)
    const copy = await fs.mkdtemp(path.join(ROOT, 'dist', 'test-copy-'));
    try {
      await fs.cp(path.join(ROOT, 'dist', 'cli'), copy, { recursive: true });
      const copiedMain = path.join(copy, 'modelmount-main.js');
      check(path.join(copy, 'modelmount.mjs'));
      expect(await fs.readdir(dir)).toEqual([name]);
      expect((await fs.stat(path.join(dir, name!))).ino).toBe(written); // read, not written again: a write replaces the file
      // another build written over the same inode, its mtime put back
      const before = await fs.stat(copiedMain);
      const body = `${main.slice(main.indexOf('\n') + 1)}// another build\n`;
      const other = createHash('sha256').update(body).digest('hex').slice(0, 32);
      await fs.writeFile(copiedMain, `// modelmount build ${other}\n${body}`);
      await fs.utimes(copiedMain, before.atime, before.mtime);
      expect((await fs.stat(copiedMain)).ino).toBe(before.ino);
      check(path.join(copy, 'modelmount.mjs'));
      const names = await fs.readdir(dir);
      expect(names).toHaveLength(2);
      const codes = await Promise.all(names.map(async (n) => JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')).code as string));
      expect(codes.sort()).toEqual([build, other].sort());
    } finally {
      await fs.rm(copy, { recursive: true, force: true });
    }
  });
});

describe('parsed manifest cache on a hung mount', () => {
  afterEach(endHungLooks);

  it('a hit on an entry used within the last day does not touch it: nothing is left running for the end of the run to wait on', async () => {
    const { cache, file, text, parsed, entry, lastUse } = await setupKept(20 * 3600 * 1000);
    const hung = hangFs('lutimes', entry);
    expect(await keptManifest(cache, file, text)).toEqual(parsed);
    expect(hung.called()).toBe(false);
    expect(stuckOperations()).toBe(0);
    expect(Math.round((await fs.stat(entry)).mtimeMs)).toBe(lastUse!.getTime()); // not moved
  });

  it('after a read of the entry that stalled, the run parses and does not write the entry (a second 30 s wait)', async () => {
    const { cache, file, text, parsed, entry } = await setupKept();
    const hung = hangFs('open', entry);
    const mkdir = vi.spyOn(fs, 'mkdir');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const loading = loadManifest(file, { parsedCache: cache });
    await untilAsked(hung, loading);
    await vi.advanceTimersByTimeAsync(STALL_DEFAULTS.idleMs);
    expect(await loading).toEqual(parsed);
    expect(mkdir.mock.calls.map((c) => String(c[0]))).not.toContain(cache.dir);
  });

  it("an abort (Ctrl+C) during a hung read of the entry ends the load at once with its reason, whatever the stall bound", async () => {
    const { cache, file, entry } = await setupKept();
    const hung = hangFs('open', entry);
    const ac = new AbortController();
    const loading = loadManifest(file, { parsedCache: cache, signal: ac.signal }).catch((e: unknown) => e);
    await untilAsked(hung, loading);
    ac.abort(new Error('Interrupted'));
    expect(await loading).toMatchObject({ message: 'Interrupted' });
  });

  it("an abort (Ctrl+C) during a hung write of the entry ends it at once with its reason", async () => {
    const { cache, file, text } = await setup();
    const hung = hangFs('lstat', cache.dir);
    const ac = new AbortController();
    const writing = writeParsedManifest(cache, file, text, parseManifest(text, file), ac.signal).catch((e: unknown) => e);
    await untilAsked(hung, writing);
    ac.abort(new Error('Interrupted'));
    expect(await writing).toMatchObject({ message: 'Interrupted' });
  });
});

/**
 * Every command that loads a manifest hands its run's signal to the load: Ctrl+C during a hung read
 * of the kept entry ends the run at once (130). The cache is the bundle's only: the build hash the
 * bundle defines (MODELMOUNT_BUILD) is given here as a global, which is where the sources look it
 * up. The timers are faked, so the stall bound never ends the wait: a load without the signal
 * never returns, and the test fails on its timeout.
 */
describe("Ctrl+C while a command's manifest load waits on a hung kept entry", () => {
  const global = globalThis as { MODELMOUNT_BUILD?: string };
  beforeEach(() => {
    global.MODELMOUNT_BUILD = 'test-build';
  });
  afterEach(async () => {
    delete global.MODELMOUNT_BUILD;
    await endHungLooks();
  });

  for (const [what, argv] of [
    ['manifest check', (file: string) => ['manifest', 'check', file]],
    ['manifest add', (file: string, root: string) => ['manifest', 'add', path.join(root, 'folder'), '--id', 'added', '--manifest', file]],
    ['gc', (file: string) => ['gc', '--manifest', file, '--dry-run']],
    ['swarm node-run (its tokens)', (file: string, root: string) => ['swarm', 'node-run', '--manifest', file, '--host-dir', path.join(root, 'host'), '--cache-dir', path.join(root, 'store'), '--only', 'many']],
  ] as const) {
    it(`${what}: the run ends at once, 130`, async () => {
      const { root, file } = await setup();
      const env = { XDG_CACHE_HOME: path.join(root, 'xdg') };
      const cacheDir = path.join(root, 'xdg', 'modelmount-manifests');
      expect((await runCliCaptured(['manifest', 'check', file], { env })).code).toBe(0); // keeps it
      const [name] = await fs.readdir(cacheDir);
      const hung = hangFs('open', path.join(cacheDir, name!));
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const ac = new AbortController();
      const run = runCliCaptured(argv(file, root), { env, cwd: root, signal: ac.signal });
      await untilAsked(hung, run);
      ac.abort(new DOMException('Interrupted', 'AbortError'));
      const r = await run;
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toContain('Interrupted');
    }, 20_000);
  }
});
