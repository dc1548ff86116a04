/** COMPOSE_FILE as Compose finds it (environment, else the project's .env) and its comparison with compose.files + override. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareComposeFileSetting, readComposeFileSetting, refuseComposeFileMismatch, type ComposeFileSetting } from '../lib/compose/compose-file-setting.ts';
import type { ComposeSettings, Manifest } from '../lib/manifest/schema.ts';
import { manifestYaml, runCliCaptured, sampleArtifacts, tempDir, tempProject } from './helpers/cli.ts';

const compose = (files: string[]): ComposeSettings => ({ files: files.map((f) => `/p/${f}`), services: ['w'], override: '/p/models.yaml', containerDir: '/models', context: '/p' });
const setting = (files: string[]): ComposeFileSetting => ({ value: files.join(':'), from: 'test', dir: '/p', separator: ':', files: files.map((f) => `/p/${f}`) });

describe('compareComposeFileSetting', () => {
  it('agrees only with compose.files, in order, then the override', () => {
    expect(compareComposeFileSetting(setting(['a.yaml', 'b.yaml', 'models.yaml']), compose(['a.yaml', 'b.yaml']))).toBeUndefined();
    expect(compareComposeFileSetting(setting(['a.yaml', 'prod.yaml', 'models.yaml']), compose(['a.yaml']))).toMatchObject({ extra: ['/p/prod.yaml'], missing: [], afterOverride: [], reordered: false });
    expect(compareComposeFileSetting(setting(['a.yaml', 'models.yaml']), compose(['a.yaml', 'b.yaml']))).toMatchObject({ extra: [], missing: ['/p/b.yaml'] });
    expect(compareComposeFileSetting(setting(['a.yaml', 'models.yaml', 'dev.yaml']), compose(['a.yaml', 'dev.yaml']))).toMatchObject({ extra: [], missing: [], afterOverride: ['/p/dev.yaml'] });
    expect(compareComposeFileSetting(setting(['b.yaml', 'a.yaml', 'models.yaml']), compose(['a.yaml', 'b.yaml']))).toMatchObject({ extra: [], missing: [], afterOverride: [], reordered: true });
    expect(compareComposeFileSetting(setting(['a.yaml']), compose(['a.yaml']))).toMatchObject({ missing: ['/p/models.yaml'] });
  });
});

describe('readComposeFileSetting', () => {
  it('the environment first (relative to the current folder), else the .env of the project folder (relative to it); COMPOSE_PATH_SEPARATOR', async () => {
    const dir = await tempDir('modelmount-compose-file-');
    try {
      expect(await readComposeFileSetting(dir, { env: {}, cwd: '/elsewhere' })).toBeUndefined();
      await fs.writeFile(path.join(dir, '.env'), 'X=1\nCOMPOSE_FILE="a.yaml:sub/b.yaml"\n');
      expect(await readComposeFileSetting(dir, { env: {}, cwd: '/elsewhere' })).toMatchObject({ envFile: path.join(dir, '.env'), files: [path.join(dir, 'a.yaml'), path.join(dir, 'sub', 'b.yaml')] });
      expect(await readComposeFileSetting(dir, { env: { COMPOSE_FILE: 'c.yaml' }, cwd: '/elsewhere' })).toMatchObject({ from: 'the COMPOSE_FILE environment variable', files: ['/elsewhere/c.yaml'] });
      await fs.writeFile(path.join(dir, '.env'), 'COMPOSE_PATH_SEPARATOR=;\nCOMPOSE_FILE=a.yaml;b.yaml\n');
      expect((await readComposeFileSetting(dir, { env: {}, cwd: dir }))?.files).toEqual([path.join(dir, 'a.yaml'), path.join(dir, 'b.yaml')]);
      // blanks or separators only name no file: as unset
      expect(await readComposeFileSetting(dir, { env: { COMPOSE_FILE: ' ' }, cwd: dir })).toBeUndefined();
      expect(await readComposeFileSetting(dir, { env: { COMPOSE_FILE: ';;' }, cwd: dir })).toBeUndefined();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('refuseComposeFileMismatch (apply) and doctor agree', () => {
  it('COMPOSE_FILE that only leaves the override out is not refused; one naming another file is, with a hint ending in the command to run again', async () => {
    const dir = await tempDir('modelmount-compose-refuse-');
    try {
      const manifest = {
        path: path.join(dir, 'models.yaml'),
        dir,
        compose: { files: [path.join(dir, 'compose.yaml')], services: ['worker'], override: path.join(dir, 'compose.models.yaml'), containerDir: '/models' },
      } as unknown as Manifest;
      await expect(refuseComposeFileMismatch(manifest, { env: { COMPOSE_FILE: 'compose.yaml' }, cwd: dir }, 'recreate worker', 'modelmount apply')).resolves.toBeUndefined();
      const refused = await refuseComposeFileMismatch(manifest, { env: { COMPOSE_FILE: 'compose.yaml:compose.prod.yaml:compose.models.yaml' }, cwd: dir }, 'recreate worker', 'modelmount apply').then(() => undefined, (e: unknown) => e as { code: string; hint: string });
      expect(refused?.code).toBe('ECOMPOSE_FILES');
      expect(refused?.hint).toMatch(/files: \[compose\.yaml, compose\.prod\.yaml\].* Then run `modelmount apply`\.$/);
      expect(refused?.hint).not.toContain('modelmount compose`');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('update --apply and a COMPOSE_FILE apply would refuse', () => {
  it('refuses before installing anything, whether or not a service would be recreated: no container runs here, nothing is fetched or written', async () => {
    const p = await tempProject(manifestYaml({
      artifacts: sampleArtifacts({ ja: 10, en: 10, teacher: 10 }),
      // never asked: the refusal comes first
      sources: [{ name: 'web', url: 'http://127.0.0.1:9/' }],
      extra: 'compose:\n  files: [compose.yaml]\n  services: [worker]\n  override: compose.models.yaml\n  containerDir: /models',
    }));
    await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: x\n');
    await fs.writeFile(path.join(p.dir, '.env'), 'COMPOSE_FILE=compose.yaml:compose.prod.yaml:compose.models.yaml\n');
    const r = await runCliCaptured(['update', '--yes', '--apply', '--json', '--manifest', p.manifest], { cwd: p.dir });
    expect(r.code, r.stderr).toBe(7);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'ECOMPOSE_FILES' });
    await expect(fs.stat(p.hostDir)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.stat(path.join(p.dir, 'compose.models.yaml'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
