// Loaded by bin/modelmount.mjs once the Node version is known to be new enough.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// the loader, and the bundle it runs (scripts/build.mjs)
const bundle = path.join(root, 'dist', 'cli', 'modelmount.mjs');
const bundleMain = path.join(root, 'dist', 'cli', 'modelmount-main.js');

/** A source checkout (this repository): the build script ships only there. */
function inCheckout() {
  return fs.existsSync(path.join(root, 'scripts', 'build.mjs')) && fs.existsSync(path.join(root, 'scripts', 'modelmount.ts'));
}

async function runTypeScript() {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import(pathToFileURL(path.join(root, 'scripts', 'modelmount.ts')).href);
  await main();
}

export async function start() {
  if (inCheckout()) {
    if (process.env.MODELMOUNT_NO_BUNDLE === '1') return runTypeScript();
    const { isFresh, build } = await import(pathToFileURL(path.join(root, 'scripts', 'build.mjs')).href);
    if (!isFresh()) {
      try {
        await build();
      } catch {
        // a build error (or a read-only checkout): tsx runs the sources and reports compile errors best
        return runTypeScript();
      }
    }
  } else if (!fs.existsSync(bundle) || !fs.existsSync(bundleMain)) {
    process.stderr.write(`✖ modelmount is not built: ${fs.existsSync(bundle) ? bundleMain : bundle} is missing.\n    → Reinstall the package (npm install -D modelmount), or in a clone of its repository run \`npm ci\`.\n`);
    process.exitCode = 1;
    return;
  }
  await import(pathToFileURL(bundle).href);
}
