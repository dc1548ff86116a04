/** Docker's credential helpers as modelmount calls them (no registry needed). */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerCredentials } from '../lib/sources/oci/auth.ts';
import { tempDir } from './helpers/cli.ts';

describe('dockerCredentials: a credential helper', () => {
  it('that exits without reading the registry from stdin is a helper with no answer, not a crash (EPIPE)', async () => {
    const bin = await tempDir();
    await fs.writeFile(path.join(bin, 'docker-credential-gone'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const dir = await tempDir();
    const auth = Buffer.from('ci:from-config').toString('base64');
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ credsStore: 'gone', auths: { 'registry.test': { auth } } }));
    const env = { ...process.env, DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH}` };
    // the write to a pipe whose reader is gone fails only when the helper has exited first: try often
    for (let i = 0; i < 30; i++) {
      expect(await dockerCredentials('registry.test', env)).toEqual({ username: 'ci', password: 'from-config' });
    }
  });
});
