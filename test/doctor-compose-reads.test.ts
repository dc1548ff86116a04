/**
 * How often a doctor run reads the Compose files and the project's .env: once each, whatever
 * number of `config` runs need them (counted by spies on the readers, never by timing).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { $ } from 'zx';
import { detectCompose } from '../lib/compose/engine.ts';
import { writeComposeOverride } from '../lib/compose/write-override.ts';
import { runDoctor } from '../lib/doctor/run-doctor.ts';
import * as services from '../lib/compose/services.ts';
import * as setting from '../lib/compose/compose-file-setting.ts';
import { makeFixture, REQUIRE_DOCKER, type Fixture } from './helpers/compose-fixture.ts';

vi.mock('../lib/compose/services.ts', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../lib/compose/services.ts')>();
  return { ...orig, readComposeTree: vi.fn(orig.readComposeTree) };
});
vi.mock('../lib/compose/compose-file-setting.ts', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../lib/compose/compose-file-setting.ts')>();
  return { ...orig, readProjectComposeFile: vi.fn(orig.readProjectComposeFile) };
});

const JA = '/app/learning_machine/artifacts/student/v0_ja';
const engine = await detectCompose();

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.cleanup();
  fx = undefined;
  vi.clearAllMocks();
});

describe.skipIf(!engine && !REQUIRE_DOCKER)(`doctor reads the Compose files once (real \`${engine?.command.join(' ') ?? 'compose'} config\`)`, () => {
  it('with a COMPOSE_FILE mismatch, both `config` runs get the profile of the listed service from one read of the files, and .env is read for COMPOSE_FILE once', async () => {
    fx = await makeFixture({ baseCompose: 'services:\n  ml-worker:\n    image: x\n    profiles: [gpu]\n' });
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const dir = path.join(fx.root, 'compose');
    await fs.mkdir(path.join(fx.root, 'local-models'));
    await fs.writeFile(path.join(dir, 'dev.yaml'), `services:\n  ml-worker:\n    volumes:\n      - ../local-models:${JA}\n`);
    await fs.writeFile(path.join(dir, '.env'), `COMPOSE_FILE=services.yaml${path.delimiter}models.override.yaml${path.delimiter}dev.yaml\n`);
    const findings = await runDoctor(fx.manifest, fx.artifacts, { engine: engine!, $, cwd: fx.root, env: {}, full: true });
    // the second run (COMPOSE_FILE's files) had ml-worker: dev.yaml's writable mount is found at its line
    expect(findings.filter((f) => f.id === 'mount-writable' && f.verdict === 'error').map((f) => [f.file, f.line])).toEqual([[path.join(dir, 'dev.yaml'), 4]]);
    expect(findings.filter((f) => f.id === 'mount-missing' && f.verdict !== 'ok').map((f) => f.message)).toEqual([]);
    expect(vi.mocked(setting.readProjectComposeFile)).toHaveBeenCalledTimes(1);
    expect(vi.mocked(services.readComposeTree)).toHaveBeenCalledTimes(1);
    expect(findings.filter((f) => f.id === 'override-not-included').map((f) => f.verdict)).toEqual(['ok']);
  });
});
