/**
 * lib/demo/registry.ts when docker-registry cannot serve: it rejects with the reason (the demo
 * then skips its registry step with that reason instead of failing), or with the run's abort reason.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalRegistry } from '../lib/demo/registry.ts';
import { tempDir } from './helpers/cli.ts';

describe('startLocalRegistry', () => {
  it('rejects with what the binary said when it exits at once', async () => {
    const bin = await tempDir('mm-fake-registry-');
    await fs.writeFile(path.join(bin, 'docker-registry'), '#!/bin/sh\necho "configuration error: boom" >&2\nexit 1\n', { mode: 0o755 });
    const dir = await tempDir('mm-registry-data-');
    await expect(startLocalRegistry(dir, { ...process.env, PATH: `${bin}:/usr/bin:/bin` })).rejects.toThrow(/docker-registry did not start on http:\/\/127\.0\.0\.1:\d+: configuration error: boom/);
  });

  it('rejects naming the spawn error when the binary cannot be started', async () => {
    const empty = await tempDir('mm-empty-path-');
    const dir = await tempDir('mm-registry-data-');
    await expect(startLocalRegistry(dir, { ...process.env, PATH: empty })).rejects.toThrow(/docker-registry did not start.*ENOENT/);
  }, 60_000);

  it('stops waiting at Ctrl+C (the run signal): rejects with its reason and ends the registry it started', async () => {
    const bin = await tempDir('mm-fake-registry-');
    const pidFile = path.join(bin, 'pid');
    // never answers /v2/ (and ignores SIGTERM), like a registry stuck at start
    await fs.writeFile(path.join(bin, 'docker-registry'), `#!/bin/sh\necho $$ > ${pidFile}\ntrap '' TERM\nexec sleep 600\n`, { mode: 0o755 });
    const dir = await tempDir('mm-registry-data-');
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stopped by the user')), 500);
    await expect(startLocalRegistry(dir, { ...process.env, PATH: `${bin}:/usr/bin:/bin` }, ac.signal)).rejects.toThrow('stopped by the user');
    const pid = Number(await fs.readFile(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(); // gone
  }, 60_000);
});
