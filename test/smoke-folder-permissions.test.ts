/**
 * smoke's in-container check run as a non-root user (`user: "1000:1000"`) against host folders it
 * may not search: a file there "cannot be read (permission denied)", naming the folder, with a hint
 * about folder permissions; never "missing in the container (no such file)". A file that is really
 * not there is still missing.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCheckScript, parseCheckOutput, type CheckArtifact } from '../lib/smoke/in-container-check.ts';
import { evaluateCheck } from '../lib/smoke/evaluate-check.ts';
import { sha256 } from './helpers/cli.ts';
import { buildBusyboxImage, cleanupDocker, describeDocker, sh, testRunId } from './helpers/docker.ts';

const IMAGE = `modelmount-test-busybox-perm:${testRunId}`;

describeDocker('the in-container check as a non-root user', () => {
  let root: string;
  beforeAll(async () => {
    await buildBusyboxImage(IMAGE);
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-perm-'));
  });
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
    await cleanupDocker();
  });

  /** A host folder (mode `top`) holding `sub/` (mode `sub`) with the file `sub/f`, mounted read-only at /models/m/a and checked for `files` as uid 1000. */
  async function check(modes: { top: number; sub: number }, files: string[]) {
    const host = await fs.mkdtemp(path.join(root, 'host-'));
    await fs.mkdir(path.join(host, 'sub'));
    await fs.writeFile(path.join(host, 'sub/f'), 'abc');
    await fs.chmod(path.join(host, 'sub/f'), 0o444);
    await fs.chmod(path.join(host, 'sub'), modes.sub);
    await fs.chmod(host, modes.top);
    const artifacts: CheckArtifact[] = [{ id: 'm/a', target: '/models/m/a', files: files.map((f) => ({ path: f, size: 3, sha256: sha256(Buffer.from('abc')) })) }];
    const script = buildCheckScript(artifacts, { probeName: '.mm-probe' });
    const out = await sh`docker run --rm --network none --user 1000:1000 --label io.modelmount.test=${testRunId} -v ${host}:/models/m/a:ro ${IMAGE} sh -c ${script}`;
    expect(out.exitCode, out.stderr).toBe(0);
    return evaluateCheck('worker', artifacts, parseCheckOutput(out.stdout), false);
  }

  it('a mounted folder the user cannot search (drwx------): its files cannot be read (permission denied), with a folder hint', async () => {
    const ev = await check({ top: 0o700, sub: 0o755 }, ['sub/f']);
    expect(ev.failures).toHaveLength(1);
    const [f] = ev.failures;
    expect(f).toMatchObject({ code: 'ESMOKE_UNREADABLE', file: 'sub/f' });
    expect(f!.message).toContain('cannot be read in the container (permission denied');
    expect(f!.message).toContain('/models/m/a');
    expect(f!.message).not.toContain('missing');
    expect(f!.hint).toMatch(/folders?/);
    expect(f!.hint).toContain('chmod a+rx');
  });

  it('a sub-folder the user cannot search: names that folder; a file really not there is still missing', async () => {
    const ev = await check({ top: 0o755, sub: 0o700 }, ['sub/f']);
    expect(ev.failures).toMatchObject([{ code: 'ESMOKE_UNREADABLE', file: 'sub/f' }]);
    expect(ev.failures[0]!.message).toContain('/models/m/a/sub');
    const gone = await check({ top: 0o755, sub: 0o755 }, ['sub/f', 'sub/gone']);
    expect(gone.failures).toMatchObject([{ code: 'ESMOKE_FILE_MISSING', file: 'sub/gone' }]);
    expect(gone.failures[0]!.message).toContain('no such file');
  });
});
