#!/usr/bin/env node
// Builds what the `modelmount` bin runs: dist/cli/modelmount.mjs, one esbuild bundle of the
// sources and of the dependencies every run needs, plus the hash worker next to it.
// Run by `npm run build`, by `prepare` (after `npm ci` / `npm install` in this repository and
// before `npm pack` / `npm publish`), and by the bin itself in a source checkout when a source
// is newer than the bundle. An installed package only runs the built files: esbuild and tsx are
// dev dependencies.
//
// Why a bundle: compiling through tsx on every start cost ~0.5 s of CPU more (measured: `update`
// on an installed set 1.0 s of CPU with tsx, 0.45 s with the bundle), and resolving and loading
// the hundreds of files of zod, yaml, listr2, … cost ~60 ms of each start (no-op update
// 0.23 s -> 0.17 s). The packages loaded only when needed stay outside (LAZY): a run without
// Docker, downloads or questions never reads them (test/startup.test.ts).
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Two levels below the root, like lib/<area>/*.ts: import.meta.url-relative paths in the sources
// ('../../package.json', './hash-worker.mjs' copied alongside) resolve the same in the bundle.
export const OUT_DIR = path.join(ROOT, 'dist', 'cli');
export const BUNDLE = path.join(OUT_DIR, 'modelmount.mjs');
const INPUTS = path.join(ROOT, 'dist', 'inputs.json');
const ENTRY = 'scripts/modelmount.ts';
const WORKERS = ['lib/verify/hash-worker.mjs'];
/** imported on first use (lib/shell.ts, lib/sources/http/request.ts, lib/sources/s3/, lib/ui/prompts.ts): runtime dependencies, left outside */
export const LAZY = ['zx', 'got', '@inquirer/prompts', '@aws-sdk/client-s3', '@aws-sdk/credential-providers'];
/**
 * Node's built-in modules, loaded where they are first used. An ESM bundle hoists every `import`
 * to its top, so each start would load http, https, tls, net, child_process, worker_threads, … for
 * the modules it only initialises on first use (lib/commands: `await import` inside run). Each
 * import of a built-in instead becomes a bundled `require()` in the module that makes it, run when
 * that module is initialised (measured: `--version` CPU 0.118 -> 0.110 s, 10 alternating runs).
 */
const BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_]+(\/[a-z_]+)?$/ }, (a) =>
      BUILTINS.has(a.path) && a.kind !== 'require-call' ? { path: a.path, namespace: 'lazy-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (a) => ({ contents: `module.exports = require(${JSON.stringify(a.path)});`, loader: 'js' }));
  },
};
/** what a dependency change touches: the bundle is rebuilt when it is newer */
const LOCKFILE = 'package-lock.json';

/** In a source checkout: is the bundle newer than every source it was built from (and the lockfile)? */
export function isFresh() {
  try {
    const built = fs.statSync(BUNDLE).mtimeMs;
    const inputs = JSON.parse(fs.readFileSync(INPUTS, 'utf8'));
    return inputs.length > 0 && inputs.every((rel) => fs.statSync(path.join(ROOT, rel)).mtimeMs <= built);
  } catch {
    return false;
  }
}

/**
 * The bundle recipe, the one place it is written: scripts/modelmount.ts and what it imports, except
 * `external`, into `outfile`, and the workers copied next to the bundle's final name `bundle`.
 * Returns esbuild's metafile.
 */
async function bundleTo(outfile, bundle, external) {
  const { build: esbuild } = await import('esbuild');
  const result = await esbuild({
    absWorkingDir: ROOT,
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external,
    // bundled CommonJS dependencies may still require() Node built-ins or optional modules
    banner: { js: "import { createRequire as __modelmountRequire } from 'node:module'; const require = __modelmountRequire(import.meta.url);" },
    plugins: [lazyBuiltins],
    metafile: true,
    logLevel: 'silent',
  });
  for (const w of WORKERS) {
    const dest = path.join(path.dirname(bundle), path.basename(w));
    fs.copyFileSync(path.join(ROOT, w), `${dest}.${process.pid}.tmp`);
    fs.renameSync(`${dest}.${process.pid}.tmp`, dest);
  }
  return result.metafile;
}

/** Build the bundle and copy the workers; every file is written under a temp name and renamed. */
export async function build() {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const tmp = `${BUNDLE}.${process.pid}.tmp`;
  try {
    const metafile = await bundleTo(tmp, BUNDLE, [...LAZY, ...LAZY.map((p) => `${p}/*`)]);
    // our sources only (not the built-ins): a dependency changes with the lockfile (and stat-ing hundreds of files would cost each start)
    const inputs = [
      ...Object.keys(metafile.inputs).filter((f) => !f.startsWith('node_modules/') && !f.startsWith('lazy-builtin:')),
      ...WORKERS,
      ...(fs.existsSync(path.join(ROOT, LOCKFILE)) ? [LOCKFILE] : []),
    ];
    fs.writeFileSync(`${INPUTS}.${process.pid}.tmp`, JSON.stringify(inputs));
    fs.renameSync(`${INPUTS}.${process.pid}.tmp`, INPUTS);
    fs.renameSync(tmp, BUNDLE);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * The same bundle with every dependency inside (no node_modules needed), as `<dir>/modelmount.mjs`
 * with the workers: what an image without npm runs (lib/fleet/image/build-local.sh).
 */
export async function buildSelfContained(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const bundle = path.join(dir, path.basename(BUNDLE));
  const tmp = `${bundle}.${process.pid}.tmp`;
  try {
    await bundleTo(tmp, bundle, []);
    fs.renameSync(tmp, bundle);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return bundle;
}

// `node scripts/build.mjs` builds dist/cli; `node scripts/build.mjs --self-contained DIR` builds into DIR.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [flag, dir] = process.argv.slice(2);
  try {
    if (flag === '--self-contained' && dir) process.stdout.write(`built ${await buildSelfContained(path.resolve(dir))}\n`);
    else if (flag !== undefined) throw new Error(`unknown arguments: ${process.argv.slice(2).join(' ')} (usage: node scripts/build.mjs [--self-contained DIR])`);
    else {
      await build();
      process.stdout.write(`built ${path.relative(ROOT, BUNDLE)}\n`);
    }
  } catch (err) {
    process.stderr.write(`build failed: ${err?.message ?? err}\n`);
    process.exitCode = 1;
  }
}
