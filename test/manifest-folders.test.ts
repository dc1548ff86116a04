/**
 * The folder check every command runs first (lib/manifest/folders.ts): its message names each folder
 * by what set it — a manifest key, an option or an environment variable as written, "the default
 * store" as the start of a sentence.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FolderSetBy } from '../lib/disk-folder.ts';
import { checkFolders } from '../lib/manifest/folders.ts';
import { tempDir } from './helpers/cli.ts';

/** The message checkFolders throws for a store inside the host folder, each set by `setBy`. */
async function overlapMessage(setBy: FolderSetBy): Promise<string> {
  const root = await tempDir();
  const hostDir = path.join(root, 'models');
  const cacheDir = path.join(hostDir, 'store');
  await fs.mkdir(cacheDir, { recursive: true });
  const err = await checkFolders({ hostDir, cacheDir, setBy: { host: setBy, cache: setBy } }).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'EFOLDER', exitCode: 2 });
  return (err as Error).message;
}

describe('checkFolders names each folder as it is written', () => {
  it("the manifest's keys: cacheDir and hostDir, never CacheDir", async () => {
    expect(await overlapMessage('manifest')).toMatch(/^cacheDir \(\/.*\/models\/store\) overlaps hostDir \(\/.*\/models\)\.$/);
  });

  it('the options and environment variables as given', async () => {
    expect(await overlapMessage('option')).toMatch(/^--cache-dir \(.*\) overlaps --host-dir \(.*\)\.$/);
    expect(await overlapMessage('env')).toMatch(/^MODELS_CACHE_DIR \(.*\) overlaps MODELS_HOST_DIR \(.*\)\.$/);
  });

  it('a message that begins with words (the default store) begins a sentence; a key stays as written on every line', async () => {
    const err = await checkFolders({ hostDir: '/', cacheDir: '/etc/modelmount', setBy: { host: 'manifest', cache: 'default' } }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('hostDir resolves to the file system root (/): modelmount would install into and clean up a system folder.\nThe default store (/etc/modelmount) is inside the system folder /etc.');
  });
});
