#!/usr/bin/env node
// Runs the TypeScript entry point on any Node >= 20.19 (Node 20 cannot strip types itself).
//
// Fast path: a bundle of the sources in .build/cli/, used while it is newer than every source
// file it was built from and than package-lock.json, rebuilt (~0.5 s) when not. Compiling
// through tsx on every start cost ~0.5 s of CPU more (measured: `update` on an installed set
// 1.0 s of CPU with tsx, 0.45 s with the bundle). The dependencies every run needs (zod, yaml,
// listr2, …) are bundled too: resolving and loading their hundreds of files cost ~60 ms of
// each start (no-op update 0.23 s -> 0.17 s). Those loaded only when needed stay outside
// (LAZY): a run without Docker, downloads or questions never reads them. Anything unusual (no
// esbuild, a read-only checkout, a build error, MODELMOUNT_NO_BUNDLE=1) falls back to tsx,
// which also reports compile errors best.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Two levels below the root, like lib/<area>/*.ts: import.meta.url-relative paths in the sources
// ('../../package.json', './hash-worker.mjs' copied alongside) resolve the same in the bundle.
const outDir = path.join(root, '.build', 'cli');
const bundle = path.join(outDir, 'modelmount.mjs');
const inputsFile = path.join(outDir, 'inputs.json');
const WORKERS = ['lib/verify/hash-worker.mjs'];
/** imported on first use by the sources (lib/shell.ts, lib/sources/http.ts, lib/sources/s3/, lib/ui/prompts.ts): left outside the bundle */
const LAZY = ['zx', 'got', '@inquirer/prompts', '@aws-sdk/client-s3', '@aws-sdk/credential-providers'];
/** what a dependency change touches: the bundle is rebuilt when it is newer */
const LOCKFILE = 'package-lock.json';

function isFresh() {
  try {
    const built = fs.statSync(bundle).mtimeMs;
    const inputs = JSON.parse(fs.readFileSync(inputsFile, 'utf8'));
    return inputs.length > 0 && inputs.every((rel) => fs.statSync(path.join(root, rel)).mtimeMs <= built);
  } catch {
    return false;
  }
}

async function rebuild() {
  const { build } = await import('esbuild');
  fs.mkdirSync(outDir, { recursive: true });
  const tmp = `${bundle}.${process.pid}.tmp`;
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: ['scripts/modelmount.ts'],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: [...LAZY, ...LAZY.map((p) => `${p}/*`), 'esbuild', 'tsx'],
      // bundled CommonJS dependencies may still require() Node built-ins or optional modules
      banner: { js: "import { createRequire as __modelmountRequire } from 'node:module'; const require = __modelmountRequire(import.meta.url);" },
      metafile: true,
      logLevel: 'silent',
    });
    for (const w of WORKERS) {
      const dest = path.join(outDir, path.basename(w));
      fs.copyFileSync(path.join(root, w), `${dest}.${process.pid}.tmp`);
      fs.renameSync(`${dest}.${process.pid}.tmp`, dest);
    }
    // our sources only: a dependency changes with the lockfile (and stat-ing hundreds of files would cost each start)
    const inputs = [...Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('node_modules/')), ...WORKERS, ...(fs.existsSync(path.join(root, LOCKFILE)) ? [LOCKFILE] : [])];
    fs.writeFileSync(`${inputsFile}.${process.pid}.tmp`, JSON.stringify(inputs));
    fs.renameSync(`${inputsFile}.${process.pid}.tmp`, inputsFile);
    fs.renameSync(tmp, bundle);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

let useBundle = process.env.MODELMOUNT_NO_BUNDLE !== '1' && isFresh();
if (!useBundle && process.env.MODELMOUNT_NO_BUNDLE !== '1') {
  try {
    await rebuild();
    useBundle = true;
  } catch {
    useBundle = false;
  }
}
if (useBundle) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../scripts/modelmount.ts');
}
