#!/usr/bin/env node
// Builds what the `modelmount` bin runs: dist/cli/modelmount-main.js, one esbuild bundle of the
// sources and of the dependencies every run needs, dist/cli/modelmount.mjs that runs it with a V8
// code cache (scripts/bundle-loader.mjs: why and how), and the hash worker next to them.
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
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Two levels below the root, like lib/<area>/*.ts: import.meta.url-relative paths in the sources
// ('../../package.json', './hash-worker.mjs' copied alongside) resolve the same in the bundle.
export const OUT_DIR = path.join(ROOT, 'dist', 'cli');
/** what the bin imports: the loader */
export const BUNDLE = path.join(OUT_DIR, 'modelmount.mjs');
/** the bundle itself, a script the loader compiles; written last, by one rename */
export const MAIN = path.join(OUT_DIR, 'modelmount-main.js');
const INPUTS = path.join(ROOT, 'dist', 'inputs.json');
const ENTRY = 'scripts/modelmount.ts';
/** copied next to the bundle under these names: the loader and the workers */
const COPIED = { 'scripts/bundle-loader.mjs': path.basename(BUNDLE), 'lib/verify/hash-worker.mjs': 'hash-worker.mjs', 'lib/verify/stat-worker.mjs': 'stat-worker.mjs' };
/** imported on first use (lib/shell.ts, lib/sources/http/request.ts, lib/sources/s3/, lib/ui/prompts.ts): runtime dependencies, left outside */
export const LAZY = ['zx', 'got', '@inquirer/prompts', '@aws-sdk/client-s3', '@aws-sdk/credential-providers'];
/** what a dependency change touches: the bundle is rebuilt when it is newer */
const LOCKFILE = 'package-lock.json';

/** In a source checkout: is the bundle newer than every source it was built from (and the lockfile)? */
export function isFresh() {
  try {
    const built = fs.statSync(MAIN).mtimeMs;
    const inputs = JSON.parse(fs.readFileSync(INPUTS, 'utf8'));
    return inputs.length > 0 && inputs.every((rel) => fs.statSync(path.join(ROOT, rel)).mtimeMs <= built);
  } catch {
    return false;
  }
}

/**
 * The bundle recipe, the one place it is written: scripts/modelmount.ts and what it imports, except
 * `external`, as the text of a script that evaluates to `function (exports, require, module,
 * __filename, __dirname, __mmUrl, __mmImport, __mmBuild)` (what scripts/bundle-loader.mjs calls), its
 * first line `// modelmount build <hash of the rest>` (the key of the code cache, and of the parsed
 * manifests: the loader passes it back in as __mmBuild, which the sources read as MODELMOUNT_BUILD). CommonJS output: an import
 * of a Node built-in becomes a require() where the module that makes it is initialised, so a
 * command loads only the built-ins it uses. `import.meta.url` is the bundle's URL (__mmUrl), and
 * each import() of an external package goes through the loader's import() (__mmImport), which
 * resolves from dist/cli/ as an ES module would. Returns the text and esbuild's metafile.
 */
async function bundle(external) {
  // imported here, not at the top: every start in a checkout imports this file for isFresh()
  const [{ build: esbuild }, { createHash }] = await Promise.all([import('esbuild'), import('node:crypto')]);
  const result = await esbuild({
    absWorkingDir: ROOT,
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    outfile: MAIN,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external,
    define: { 'import.meta.url': '__mmUrl', MODELMOUNT_BUILD: '__mmBuild' },
    metafile: true,
    logLevel: 'silent',
  });
  let text = result.outputFiles[0].text;
  // every import() left in the output is of an external package (the metafile names each): through the loader
  const dynamic = Object.values(result.metafile.outputs)[0].imports.filter((i) => i.kind === 'dynamic-import' && i.external);
  for (const { path: spec } of dynamic) text = text.split(`import(${JSON.stringify(spec)})`).join(`__mmImport(${JSON.stringify(spec)})`);
  if (/\bimport\(/.test(text.replace(/^\s*\/\/.*$/gm, ''))) throw new Error('the bundle has an import() scripts/build.mjs does not route through the loader');
  const body = `(function (exports, require, module, __filename, __dirname, __mmUrl, __mmImport, __mmBuild) {\n${text}\n})\n`;
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 32);
  return { text: `// modelmount build ${hash}\n${body}`, metafile: result.metafile };
}

/** Copy the loader and the workers into `dir`, each under a temp name, then renamed. */
function copyBeside(dir) {
  for (const [src, name] of Object.entries(COPIED)) {
    const dest = path.join(dir, name);
    fs.copyFileSync(path.join(ROOT, src), `${dest}.${process.pid}.tmp`);
    fs.renameSync(`${dest}.${process.pid}.tmp`, dest);
  }
}

/**
 * Build the bundle and copy the loader and the workers; every file is written under a temp name and
 * renamed, the bundle last: a run starting meanwhile reads the old bundle or the new one, whole.
 */
export async function build() {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const tmp = `${MAIN}.${process.pid}.tmp`;
  try {
    const { text, metafile } = await bundle([...LAZY, ...LAZY.map((p) => `${p}/*`)]);
    fs.writeFileSync(tmp, text);
    copyBeside(OUT_DIR);
    // our sources only: a dependency changes with the lockfile (and stat-ing hundreds of files would cost each start)
    const inputs = [
      ...Object.keys(metafile.inputs).filter((f) => !f.startsWith('node_modules/')),
      ...Object.keys(COPIED),
      ...(fs.existsSync(path.join(ROOT, LOCKFILE)) ? [LOCKFILE] : []),
    ];
    fs.writeFileSync(`${INPUTS}.${process.pid}.tmp`, JSON.stringify(inputs));
    fs.renameSync(`${INPUTS}.${process.pid}.tmp`, INPUTS);
    fs.renameSync(tmp, MAIN);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * The same bundle with every dependency inside (no node_modules needed), in `dir` with the loader
 * (`<dir>/modelmount.mjs`, what to run) and the workers: what an image without npm runs
 * (lib/fleet/image/build-local.sh).
 */
export async function buildSelfContained(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const main = path.join(dir, path.basename(MAIN));
  const tmp = `${main}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, (await bundle([])).text);
    copyBeside(dir);
    fs.renameSync(tmp, main);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return path.join(dir, path.basename(BUNDLE));
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
