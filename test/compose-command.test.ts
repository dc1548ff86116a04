/** `modelmount compose`: writes the override; `--print` only shows how to use it and changes nothing. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, manifestYaml, runCliCaptured, sampleArtifacts, tempDir, writeSourceTree } from './helpers/cli.ts';

async function project() {
  const dir = path.join(await tempDir(), 'my project'); // a space: every command shown must be shell-quoted
  await fs.mkdir(dir);
  const origin = path.join(dir, 'origin');
  const artifacts = sampleArtifacts({ ja: 1000, en: 1000, teacher: 1000 });
  await writeSourceTree(origin, artifacts);
  await fs.writeFile(path.join(dir, 'compose.yaml'), 'services:\n  ml-worker:\n    image: busybox\n');
  const manifest = path.join(dir, 'models.yaml');
  await fs.writeFile(
    manifest,
    manifestYaml({
      artifacts,
      sources: [{ name: 'local', url: origin }],
      extra: 'compose:\n  files: [compose.yaml]\n  services: [ml-worker]\n  override: compose.models.yaml\n  containerDir: /app/models',
    }),
  );
  const update = await runCliCaptured(['update', '--manifest', manifest, '--yes', '--no-compose'], { cwd: dir });
  expect(update.code, update.stderr).toBe(0);
  return { dir, manifest, override: path.join(dir, 'compose.models.yaml') };
}

describe('compose', () => {
  it('--print changes nothing: no override is written, and the commands it shows are shell-quoted', async () => {
    const p = await project();
    const before = await listFiles(p.dir);
    const printed = await runCliCaptured(['compose', '--manifest', p.manifest, '--print'], { cwd: path.dirname(p.dir) });
    expect(printed.code, printed.stderr).toBe(0);
    expect(await listFiles(p.dir)).toEqual(before);
    await expect(fs.access(p.override)).rejects.toThrow();
    expect(printed.stdout).not.toMatch(/^Wrote /m);
    expect(printed.stdout).toMatch(/-f 'my project\/compose\.yaml' -f 'my project\/compose\.models\.yaml' <command>/);
    expect(printed.stdout).toContain(`COMPOSE_FILE='my project/compose.yaml${path.delimiter}my project/compose.models.yaml'`);

    const written = await runCliCaptured(['compose', '--manifest', p.manifest], { cwd: p.dir });
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout).toMatch(/^Wrote /m);
    await fs.access(p.override);
    const again = await fs.readFile(p.override, 'utf8');
    expect((await runCliCaptured(['compose', '--manifest', p.manifest, '--print'], { cwd: p.dir })).code).toBe(0);
    expect(await fs.readFile(p.override, 'utf8')).toBe(again);
  });
});
