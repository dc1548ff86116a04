/**
 * A real S3 server for the tests: Ceph radosgw (SigV4, ranged GETs, ETags, 403s) on loopback,
 * started by test/helpers/radosgw.sh in a temp folder and stopped in afterAll.
 *
 * Without the Ceph packages the S3 tests are skipped with a message; with
 * MODELMOUNT_REQUIRE_S3=1 (set by .ci/run, which installs them) they fail instead.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describeWithServer } from './describe-server.ts';

export const REQUIRE_S3_ENV = 'MODELMOUNT_REQUIRE_S3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'radosgw.sh');
const run = promisify(execFile);

export interface Radosgw {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

let missingCache: string | undefined | null = null;
/** Why radosgw cannot run here, or undefined when it can. Synchronous: suites register synchronously. */
export function radosgwMissing(): string | undefined {
  if (missingCache !== null) return missingCache;
  const tools = ['radosgw', 'ceph-mon', 'ceph-osd', 'radosgw-admin', 'monmaptool', 'ceph-authtool', 'uuidgen'];
  const absent = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  missingCache = absent.length ? `not installed: ${absent.join(', ')} (apt-get install --no-install-recommends radosgw ceph-mon ceph-osd uuid-runtime)` : undefined;
  return missingCache;
}

/** `describe` that needs radosgw: skipped with a message without it, failed under MODELMOUNT_REQUIRE_S3=1. */
export function describeS3(name: string, fn: () => void): void {
  describeWithServer('radosgw', radosgwMissing(), REQUIRE_S3_ENV, name, fn);
}

/** Start mon + memstore OSD + radosgw in a fresh temp folder with one user; ~15 s. */
export async function startRadosgw(): Promise<Radosgw> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-rgw-'));
  const accessKeyId = `AK${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(20).toString('base64url');
  const stop = async () => {
    await run(SCRIPT, ['stop', dir]).catch(() => {});
    await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
  };
  try {
    const { stdout } = await run(SCRIPT, ['start', dir, accessKeyId, secretAccessKey], { timeout: 180_000 });
    const endpoint = /^endpoint=(\S+)$/m.exec(stdout)?.[1];
    if (!endpoint) throw new Error(`radosgw.sh printed no endpoint: ${stdout}`);
    return { endpoint, accessKeyId, secretAccessKey, stop };
  } catch (err) {
    const log = await fs.readFile(path.join(dir, 'log', 'start.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`radosgw did not start: ${(err as Error).message}\n${log.slice(-2000)}`);
  }
}
