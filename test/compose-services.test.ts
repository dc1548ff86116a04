import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listComposeServices, readComposeTree, serviceImage, serviceNetworks, serviceProfiles, servicesSection } from '../lib/compose/services.ts';
import type { Manifest } from '../lib/manifest/schema.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function composeFiles(contents: Record<string, string>): Promise<{ dir: string; files: string[] }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mm-compose-services-'));
  dirs.push(dir);
  const files: string[] = [];
  for (const [name, text] of Object.entries(contents)) {
    files.push(path.join(dir, name));
    await fs.writeFile(path.join(dir, name), text);
  }
  return { dir, files };
}

const manifestWith = (files: string[]) => ({ path: '/x/models.yaml', compose: { files, services: ['worker'], override: '/x/o.yaml', containerDir: '/models' } }) as unknown as Manifest;

describe('servicesSection: the one reader of a Compose document\'s services', () => {
  it('returns the services as they are, a bare `name:` as null', () => {
    const doc = { services: { worker: { image: 'x' }, bare: null } };
    const services = servicesSection(doc);
    expect(services.worker).toBe(doc.services.worker); // the document's own object: callers may edit and write it back
    expect(services.bare).toBeNull();
  });

  it('is empty without a services section, or with one that is not a map', () => {
    expect(servicesSection(null)).toEqual({});
    expect(servicesSection({})).toEqual({});
    expect(servicesSection({ services: null })).toEqual({});
    expect(servicesSection({ services: 'worker' })).toEqual({});
    expect(servicesSection({ services: ['worker'] })).toEqual({});
  });
});

describe('serviceNetworks', () => {
  it('names the networks of a list or a map, none otherwise', () => {
    expect(serviceNetworks({ networks: ['front', 'back'] })).toEqual(['front', 'back']);
    expect(serviceNetworks({ networks: { default: null, front: { aliases: ['w'] } } })).toEqual(['default', 'front']);
    expect(serviceNetworks({})).toEqual([]);
    expect(serviceNetworks(null)).toEqual([]);
  });
});

describe('the Compose files as written: listComposeServices and serviceImage', () => {
  it('lists every service of every file once, and takes the image from the last file that sets one', async () => {
    const { files } = await composeFiles({
      'base.yaml': 'services:\n  worker:\n    image: app:1\n  db:\n    image: pg\n',
      'more.yaml': 'services:\n  worker:\n    image: app:2\n  cache:\n',
      'env.yaml': 'services:\n  worker:\n    environment: {A: b}\n',
    });
    expect(await listComposeServices(files)).toEqual(['worker', 'db', 'cache']);
    expect(await serviceImage(manifestWith(files), 'worker')).toBe('app:2');
    expect(await serviceImage(manifestWith(files), 'cache')).toBeUndefined();
  });

  it('an unreadable, invalid or missing file sets nothing', async () => {
    const { dir, files } = await composeFiles({ 'bad.yaml': 'services: [\n', 'ok.yaml': 'services:\n  worker:\n    image: app:1\n' });
    const all = [path.join(dir, 'missing.yaml'), ...files, dir];
    expect(await listComposeServices(all)).toEqual(['worker']);
    expect(await serviceImage(manifestWith(all), 'worker')).toBe('app:1');
  });

  it('never blocks on a FIFO in the place of a Compose file', async () => {
    const { dir, files } = await composeFiles({ 'ok.yaml': 'services:\n  worker:\n    image: app:1\n' });
    const fifo = path.join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    expect(await serviceImage(manifestWith([fifo, ...files]), 'worker')).toBe('app:1');
    expect(await listComposeServices([fifo, ...files])).toEqual(['worker']);
  });
});

describe('serviceProfiles', () => {
  it("the listed services' profiles, from the files and the files they include", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-profiles-'));
    try {
      await fs.mkdir(path.join(dir, 'ml'));
      await fs.writeFile(path.join(dir, 'ml', 'compose.yaml'), 'services:\n  worker:\n    image: x\n    profiles: [gpu]\n  other:\n    image: x\n    profiles: [never]\n');
      await fs.writeFile(path.join(dir, 'compose.yaml'), 'include:\n  - path: ml/compose.yaml\nservices:\n  web:\n    image: x\n    profiles: [web]\n');
      const files = [path.join(dir, 'compose.yaml')];
      const tree = await readComposeTree(files);
      expect(serviceProfiles(tree, ['worker', 'web'])).toEqual(['web', 'gpu']);
      expect(serviceProfiles(tree, ['nothing'])).toEqual([]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('adds the profiles of the services they extend (same file, another file relative to the extending one, an included file), and ends on a cycle', async () => {
    const { dir } = await composeFiles({});
    await fs.mkdir(path.join(dir, 'ml'));
    await fs.mkdir(path.join(dir, 'shared'));
    await fs.writeFile(path.join(dir, 'shared', 'base.yaml'), 'services:\n  app:\n    image: x\n    profiles: [shared]\n');
    await fs.writeFile(path.join(dir, 'ml', 'compose.yaml'), 'services:\n  worker:\n    extends:\n      file: ../shared/base.yaml\n      service: app\n');
    await fs.writeFile(path.join(dir, 'compose.yaml'), 'include: [ml/compose.yaml]\nservices:\n  gpu:\n    image: x\n    profiles: [gpu]\n  web:\n    extends: gpu\n    profiles: [web]\n  loop-a:\n    extends: {service: loop-b}\n    profiles: [a]\n  loop-b:\n    extends: loop-a\n  proto:\n    extends: constructor\n');
    const files = [path.join(dir, 'compose.yaml')];
    const tree = await readComposeTree(files);
    expect(serviceProfiles(tree, ['web']).sort()).toEqual(['gpu', 'web']);
    expect(serviceProfiles(tree, ['worker'])).toEqual(['shared']);
    expect(serviceProfiles(tree, ['loop-b'])).toEqual(['a']);
    expect(serviceProfiles(tree, ['proto', 'constructor'])).toEqual([]);
  });

  it('reads profiles set through YAML merge keys (`<<: *anchor`, a list of them, the service\'s own key first), as Compose v2 and docker-compose 1.29 resolve them', async () => {
    const { files } = await composeFiles({
      'compose.yaml': [
        'x-gpu: &gpu {profiles: [gpu], image: x}',
        'x-ml: &ml {profiles: [ml], environment: {A: "1"}}',
        'services:',
        '  worker:',
        '    <<: *gpu',
        '  both:',
        '    <<: [*ml, *gpu]',
        '  own:',
        '    <<: *gpu',
        '    profiles: [own]',
        '  base:',
        '    <<: *ml',
        '  web:',
        '    extends: base',
        '',
      ].join('\n'),
    });
    const tree = await readComposeTree(files);
    expect(serviceProfiles(tree, ['worker'])).toEqual(['gpu']);
    expect(serviceProfiles(tree, ['both'])).toEqual(['ml']);
    expect(serviceProfiles(tree, ['own'])).toEqual(['own']);
    expect(serviceProfiles(tree, ['web'])).toEqual(['ml']);
  });
});
