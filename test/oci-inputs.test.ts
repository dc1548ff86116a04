/** What modelmount takes for OCI without a registry: credential helpers, publish targets. */
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

describe('parsePublishTarget: the manifest grammar, a tag, no credentials', () => {
  it('takes oci://host[:port]/repo:tag and refuses credentials (never echoed), a digest, no tag', async () => {
    const { parsePublishTarget } = await import('../lib/sources/oci/publish.ts');
    expect(parsePublishTarget('oci://Registry.Example.com:5000/team/models:v1')).toEqual({ registry: 'registry.example.com:5000', repository: 'team/models', ref: 'v1' });
    const refused = (t: string) => {
      try {
        parsePublishTarget(t);
      } catch (err) {
        return err as Error & { code?: string; hint?: string };
      }
      throw new Error(`accepted ${t}`);
    };
    const withPassword = refused('oci://user:pw-secret@registry.example.com/team/models:v1');
    expect(withPassword.code).toBe('EUSAGE');
    expect(`${withPassword.message} ${withPassword.hint}`).not.toContain('pw-secret');
    expect(refused(`oci://registry.example.com/team/models@sha256:${'a'.repeat(64)}`).message).toContain('not a digest');
    expect(refused('oci://registry.example.com/team/models').message).toContain('Give a tag');
  });
});
