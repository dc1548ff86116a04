/** Hints name the next command the way the user ran modelmount: npm script, npx, or the bin. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commandFor, detectInvocation, setInvocation } from '../lib/invocation.ts';
import { runCliCaptured, tempDir } from './helpers/cli.ts';

async function packageJson(scripts: Record<string, string>): Promise<string> {
  const file = path.join(await tempDir(), 'package.json');
  await fs.writeFile(file, JSON.stringify({ name: 'app', scripts }));
  return file;
}

afterEach(() => setInvocation({ style: 'bin', scripts: {} }));

describe('detectInvocation + commandFor', () => {
  it('from one of the project npm scripts: npm run <its script> -- args; a subcommand without a script through npx', async () => {
    const pkg = await packageJson({ 'models:update': 'modelmount update', 'models:compose': 'modelmount compose --manifest ops/m.yaml', 'models:manifest': 'modelmount manifest', test: 'vitest run' });
    const inv = detectInvocation({ npm_lifecycle_event: 'models:update', npm_lifecycle_script: 'modelmount update', npm_command: 'run-script', npm_package_json: pkg }, ['node', '/app/node_modules/.bin/modelmount']);
    expect(inv.style).toBe('npm-script');
    expect(commandFor('compose', '--print', inv)).toBe('npm run models:compose -- --print');
    expect(commandFor('update', '', inv)).toBe('npm run models:update');
    expect(commandFor('manifest add', './out --id a/b', inv)).toBe('npm run models:manifest -- add ./out --id a/b');
    expect(commandFor('doctor', '', inv)).toBe('npx modelmount doctor');
  });

  it("this repository's own scripts (node bin/modelmount.mjs …, bootstrap without the models: prefix)", async () => {
    const pkg = await packageJson({ demo: 'node bin/modelmount.mjs demo', bootstrap: 'node bin/modelmount.mjs bootstrap', 'models:verify': 'node bin/modelmount.mjs verify' });
    const inv = detectInvocation({ npm_lifecycle_event: 'demo', npm_lifecycle_script: 'node bin/modelmount.mjs demo', npm_package_json: pkg });
    expect(commandFor('verify', '--full', inv)).toBe('npm run models:verify -- --full');
    expect(commandFor('bootstrap', '--yes', inv)).toBe('npm run bootstrap -- --yes');
  });

  it('npx (npm exec, or a bin in npx’s cache): npx modelmount …', () => {
    expect(commandFor('compose', '--print', detectInvocation({ npm_command: 'exec', npm_lifecycle_event: 'npx' }))).toBe('npx modelmount compose --print');
    expect(commandFor('smoke', '', detectInvocation({}, ['node', '/root/.npm/_npx/1a2b/node_modules/.bin/modelmount']))).toBe('npx modelmount smoke');
  });

  it('the bin itself, or an npm script that runs something else: modelmount …', () => {
    expect(commandFor('update', '--dry-run', detectInvocation({}, ['node', '/usr/local/bin/modelmount']))).toBe('modelmount update --dry-run');
    expect(commandFor('update', '', detectInvocation({ npm_lifecycle_event: 'test', npm_lifecycle_script: 'tsc && vitest run', npm_command: 'run-script' }))).toBe('modelmount update');
  });
});

describe('a run names its hints that way', () => {
  it('an unknown flag from an npm script points at npm run … -- --help; from npx at npx modelmount … --help', async () => {
    const pkg = await packageJson({ 'models:update': 'modelmount update' });
    const fromScript = await runCliCaptured(['update', '--bogus'], { env: { npm_lifecycle_event: 'models:update', npm_lifecycle_script: 'modelmount update', npm_package_json: pkg } });
    expect(fromScript.code).toBe(2);
    expect(fromScript.stderr).toContain('Run `npm run models:update -- --help` to see the options.');
    const fromNpx = await runCliCaptured(['update', '--bogus'], { env: { npm_command: 'exec' } });
    expect(fromNpx.stderr).toContain('Run `npx modelmount update --help` to see the options.');
    const plain = await runCliCaptured(['update', '--bogus']);
    expect(plain.stderr).toContain('Run `modelmount update --help` to see the options.');
  });
});
