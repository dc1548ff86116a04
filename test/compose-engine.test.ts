import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { detectCompose, engineGeneration, parseComposeCommand, parseComposeVersion } from '../lib/compose/engine.ts';
import { ComposeError } from '../lib/errors.ts';
import { hasCommand, REQUIRE_DOCKER } from './helpers/compose-fixture.ts';

// Captured on this machine (docker-compose 1.29.2 from Debian, Docker 20.10.24, no compose plugin)
const V1_SHORT = '1.29.2\n';
const V1_FULL = `docker-compose version 1.29.2, build unknown
docker-py version: 5.0.3
CPython version: 3.11.2
OpenSSL version: OpenSSL 3.0.19 27 Jan 2026
`;
const NO_PLUGIN_STDERR = "docker: unknown command: docker compose\n\nRun 'docker --help' for more information\n";
const NO_PLUGIN_SHORT_STDERR = "unknown flag: --short\n\nUsage:  docker [OPTIONS] COMMAND [ARG...]\n\nRun 'docker --help' for more information\n";
// Compose v2+ (compose-go): `docker compose version` / `--short`, per docker/compose's version command
const V2_FULL = 'Docker Compose version v2.24.5\n';
const V2_SHORT = '2.24.5\n';
const V2_DESKTOP = 'Docker Compose version v2.24.6-desktop.1\n';
const V5_FULL = 'Docker Compose version v5.0.0\n';

describe('parseComposeVersion', () => {
  it.each([
    [V1_SHORT, '1.29.2'],
    [V1_FULL, '1.29.2'],
    ['docker-compose version 1.29.2, build 5becea4c\n', '1.29.2'],
    [V2_FULL, '2.24.5'],
    [V2_SHORT, '2.24.5'],
    ['v2.3.3\n', '2.3.3'],
    [V2_DESKTOP, '2.24.6-desktop.1'],
    ['2.24.6-desktop.1\n', '2.24.6-desktop.1'],
    [V5_FULL, '5.0.0'],
    ['Docker Compose version 2.40.3+ds1-0ubuntu1\n', '2.40.3+ds1-0ubuntu1'],
  ])('reads %j as %s', (text, version) => {
    expect(parseComposeVersion(text)).toBe(version);
  });

  it.each([[''], ['\n'], [NO_PLUGIN_STDERR], [NO_PLUGIN_SHORT_STDERR], ['docker-py version: 5.0.3\n']])('finds no version in %j', (text) => {
    expect(parseComposeVersion(text)).toBeUndefined();
  });

  it('classifies generations: 1.x is v1, every later major is the Go implementation', () => {
    expect(engineGeneration('1.29.2')).toBe('v1');
    expect(engineGeneration('2.24.5')).toBe('v2');
    expect(engineGeneration('5.0.0')).toBe('v2');
    expect(engineGeneration('0.9')).toBeUndefined();
    expect(engineGeneration('x')).toBeUndefined();
  });

  it('splits MODELS_COMPOSE into argv', () => {
    expect(parseComposeCommand(' docker   compose ')).toEqual(['docker', 'compose']);
    expect(parseComposeCommand('docker-compose')).toEqual(['docker-compose']);
  });
});

describe('detectCompose with fake binaries', () => {
  let dir: string;
  const script = (body: string) => `#!/bin/sh\n${body}\n`;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-engine-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function binDir(name: string, bins: Record<string, string>): Promise<string> {
    const d = path.join(dir, name);
    await fs.mkdir(d, { recursive: true });
    for (const [bin, body] of Object.entries(bins)) {
      await fs.writeFile(path.join(d, bin), script(body), { mode: 0o755 });
    }
    return d;
  }
  const shellWith = (bin: string) => $({ env: { ...process.env, PATH: bin } });

  const dockerWithPlugin = `if [ "$1 $2 $3" = "compose version --short" ]; then echo 2.24.5; exit 0; fi
if [ "$1 $2" = "compose version" ]; then echo 'Docker Compose version v2.24.5'; exit 0; fi
exit 1`;
  const dockerWithoutPlugin = `if [ "$3" = "--short" ]; then printf 'unknown flag: --short\\n' >&2; exit 125; fi
printf 'docker: unknown command: docker compose\\n' >&2; exit 1`;
  const composeV1 = `if [ "$1 $2" = "version --short" ]; then echo 1.29.2; exit 0; fi
if [ "$1" = "version" ]; then printf 'docker-compose version 1.29.2, build unknown\\ndocker-py version: 5.0.3\\n'; exit 0; fi
exit 1`;
  // an old v1 without --short: only `version` works
  const composeOldV1 = `if [ "$2" = "--short" ]; then echo 'No such option: --short' >&2; exit 1; fi
if [ "$1" = "version" ]; then printf 'docker-compose version 1.25.0, build 0a186604\\n'; exit 0; fi
exit 1`;

  it('prefers the docker compose plugin', async () => {
    const bin = await binDir('plugin', { docker: dockerWithPlugin, 'docker-compose': composeV1 });
    const engine = await detectCompose({ $: shellWith(bin), env: {} });
    expect(engine).toEqual({ version: 'v2', command: ['docker', 'compose'], fullVersion: '2.24.5' });
  });

  it('falls back to docker-compose v1 when the plugin is missing', async () => {
    const bin = await binDir('v1', { docker: dockerWithoutPlugin, 'docker-compose': composeV1 });
    const engine = await detectCompose({ $: shellWith(bin), env: {} });
    expect(engine).toEqual({ version: 'v1', command: ['docker-compose'], fullVersion: '1.29.2' });
  });

  it('falls back to `version` when `version --short` is not understood', async () => {
    const bin = await binDir('oldv1', { 'docker-compose': composeOldV1 });
    const engine = await detectCompose({ $: shellWith(bin), env: {} });
    expect(engine).toEqual({ version: 'v1', command: ['docker-compose'], fullVersion: '1.25.0' });
  });

  it('returns undefined when there is no Compose at all', async () => {
    const bin = await binDir('none', { docker: dockerWithoutPlugin });
    expect(await detectCompose({ $: shellWith(bin), env: {} })).toBeUndefined();
  });

  it('MODELS_COMPOSE overrides detection', async () => {
    const bin = await binDir('both', { docker: dockerWithPlugin, 'docker-compose': composeV1 });
    const engine = await detectCompose({ $: shellWith(bin), env: { MODELS_COMPOSE: 'docker-compose' } });
    expect(engine).toEqual({ version: 'v1', command: ['docker-compose'], fullVersion: '1.29.2' });
  });

  it('a MODELS_COMPOSE that does not work is an error, not a silent fallback', async () => {
    const bin = await binDir('both2', { docker: dockerWithoutPlugin, 'docker-compose': composeV1 });
    const err = await detectCompose({ $: shellWith(bin), env: { MODELS_COMPOSE: 'docker compose' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComposeError);
    expect((err as ComposeError).code).toBe('ECOMPOSE_ENGINE');
    expect((err as ComposeError).hint).toMatch(/MODELS_COMPOSE/);
  });
});

describe('detectCompose on this machine', async () => {
  const available = (await hasCommand('docker-compose')) || (await hasCommand('docker'));
  it.skipIf(!available && !REQUIRE_DOCKER)('finds a working Compose on PATH (skipped only when neither docker nor docker-compose is installed)', async () => {
    const engine = await detectCompose({ env: {} });
    if (!engine && !REQUIRE_DOCKER) return; // docker without compose: nothing to detect
    expect(engine).toBeDefined();
    expect(engine!.fullVersion).toMatch(/^\d+\.\d+/);
    expect(engine!.version).toBe(engineGeneration(engine!.fullVersion));
    const out = await $({ quiet: true, nothrow: true })`${[...engine!.command, 'version']}`;
    expect(out.exitCode).toBe(0);
  });
});
