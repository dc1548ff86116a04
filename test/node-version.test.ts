/**
 * An old Node gets one line naming the version needed and exit 2, not a SyntaxError from a module
 * it cannot load. For real: Node 18 from the npm registry (npm's `node` package, as .ci/run installs
 * Node 24); skipped with a message when it cannot be installed here.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from './helpers/real-cli.ts';


function installOldNode(): { node?: string; why?: string } {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmount-node18-'));
  const r = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--prefer-offline', 'node@18'], { encoding: 'utf8', timeout: 180_000 });
  const node = path.join(prefix, 'node_modules', '.bin', 'node');
  if (r.status !== 0 || !fs.existsSync(node)) return { why: `npm install node@18 failed: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-1)[0]}` };
  const v = spawnSync(node, ['--version'], { encoding: 'utf8' });
  if (v.status !== 0 || !v.stdout.startsWith('v18.')) return { why: `the installed node does not run: ${v.stderr || v.error}` };
  return { node };
}

const old = installOldNode();
if (!old.node) console.warn(`Node 18 not installable: skipping the old-Node test (${old.why})`);

describe.skipIf(!old.node)('on Node 18', () => {
  it.each([['--version'], ['update', '--help'], ['init', '--yes']])('modelmount %s prints one line naming Node 20.19 and exits 2', (...args) => {
    const r = spawnSync(old.node!, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^modelmount needs Node\.js 20\.19 or later; this is Node\.js 18\.\d+\.\d+\. Install a newer Node\.js \(https:\/\/nodejs\.org\/\) and run it again\.\n$/);
  });
});

describe('on this Node', () => {
  it('the same bin runs', () => {
    const r = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
