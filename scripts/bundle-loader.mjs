// dist/cli/modelmount.mjs of a built modelmount (scripts/build.mjs copies it there from
// scripts/bundle-loader.mjs): runs the bundle next to it, modelmount-main.js, with a V8 code cache.
//
// Why: compiling the 2 MB bundle cost each start ~30 ms of CPU, and compiling the functions a
// command runs ~25 ms more (Node 20 has no compile cache for modules; module.enableCompileCache
// came in 22.1). The bundle is a script (one function expression), so vm.Script compiles it with
// the code V8 produced for the same bundle and command in an earlier run: `--version` CPU
// 0.129 -> 0.094 s, a no-op update 0.191 -> 0.146 s (8 alternating runs; node -e 0 is 0.068 s).
//
// The cache is modelmount's own folder, <os.tmpdir()>/modelmount-code-cache-<uid> (a local folder:
// this runs before anything else, synchronously, and a home folder may be a network mount that
// hangs), one file per bundle build, command and Node version. It is only read from a folder of
// this user that no one else may write to, written (under a temp name, then renamed) after a run
// that succeeded, and never needed: a folder that cannot be made or written means no cache, and a
// cache V8 rejects is compiled anew. MODELMOUNT_CODE_CACHE=0 turns it off, =<absolute folder> moves it.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';

const MAIN = fileURLToPath(new URL('./modelmount-main.js', import.meta.url));
/** a cache of another build is removed when it has not been written for this long */
const STALE_MS = 24 * 60 * 60 * 1000;
/** a run's cache is taken at its end or after this long, whichever comes first */
const CAPTURE_MS = 300;

/** The cache folder, or undefined when there is none. */
export function codeCacheDir(env = process.env) {
  const setting = env.MODELMOUNT_CODE_CACHE;
  if (setting === '0') return undefined;
  if (setting) return path.isAbsolute(setting) ? setting : undefined;
  return path.join(os.tmpdir(), `modelmount-code-cache-${typeof process.getuid === 'function' ? process.getuid() : 'user'}`);
}

/** The bundle's build hash (its first line: a hash of the rest, scripts/build.mjs), or undefined. */
export function buildHashOf(code) {
  return /^\/\/ modelmount build ([0-9a-f]{16,64})\n/.exec(code)?.[1];
}

/** The cache file's name: the bundle's build hash, the command, the Node version. */
export function codeCacheName(code, argv) {
  const build = buildHashOf(code);
  if (!build) return undefined;
  const word = argv.find((a) => !a.startsWith('-'));
  const command = word === undefined ? 'none' : /^[a-z][a-z0-9-]{0,31}$/.test(word) ? word : 'other';
  const help = argv.includes('--help') || argv.includes('-h') ? '-help' : '';
  return `${build}.${command}${help}.${process.version}-${process.arch}.v8`;
}

/** ours alone: a real folder of this user that no one else may write to */
function isOwnFolder(dir) {
  const st = fs.lstatSync(dir);
  return st.isDirectory() && (typeof process.getuid !== 'function' || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
}

/** the cache file, if it is a regular file of this user that no one else may write to (never through a link) */
function readCache(dir, name) {
  let fd;
  try {
    if (!isOwnFolder(dir)) return undefined;
    fd = fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    const own = st.isFile() && (typeof process.getuid !== 'function' || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
    return own ? fs.readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function writeCache(dir, name, data) {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!isOwnFolder(dir)) return;
    const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, path.join(dir, name));
    const build = name.slice(0, name.indexOf('.'));
    for (const f of fs.readdirSync(dir)) {
      const file = path.join(dir, f);
      if (!f.startsWith(`${build}.`) && Date.now() - fs.lstatSync(file).mtimeMs > STALE_MS) fs.rmSync(file, { force: true });
    }
  } catch {
    // no cache this time
  }
}

const code = fs.readFileSync(MAIN, 'utf8');
const dir = codeCacheDir();
const name = dir && codeCacheName(code, process.argv.slice(2));
const cachedData = name ? readCache(dir, name) : undefined;
const script = new vm.Script(code, { filename: MAIN, cachedData });
if (name && (!cachedData || script.cachedDataRejected)) {
  // Taken once the command has started (not only the top level compiled), at the latest after
  // CAPTURE_MS: V8 drops the bytecode of functions a long run no longer calls, so a cache taken at
  // the end of a minutes-long install lacked most of what starting needs (a no-op update with it:
  // 0.19 s, as with none; with one taken early: 0.14 s). Written only when the run succeeded.
  let data;
  const capture = () => {
    try {
      data ??= script.createCachedData();
    } catch {
      // no cache this time; never the run's failure
    }
    return data;
  };
  setTimeout(capture, CAPTURE_MS).unref();
  process.once('exit', (exitCode) => {
    if (exitCode !== 0) return;
    try {
      const captured = capture();
      if (captured) writeCache(dir, name, captured);
    } catch {
      // no cache this time
    }
  });
}
const module = { exports: {} };
// import() in the bundle (the dependencies loaded on first use) resolves from here, as it would in an
// ES module bundle; the build hash of the code it runs (MODELMOUNT_BUILD in the sources) keys what
// that code validated and kept (lib/manifest/parsed-cache.ts)
const importHere = (specifier) => import(specifier);
script.runInThisContext()(module.exports, createRequire(MAIN), module, MAIN, path.dirname(MAIN), pathToFileURL(MAIN).href, importHere, buildHashOf(code));
await module.exports.main();
