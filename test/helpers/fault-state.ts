/**
 * What every fault test asserts about the disk after a run, whatever went wrong:
 * - the host folder holds, for each expected file, either the verified bytes, the bytes of
 *   the previous install, or nothing — never anything else;
 * - every blob in the store has the sha256 its name says;
 * - no temp file is left in <hostDir>/.modelmount/tmp;
 * - <cache>/tmp holds only resumable `.partial` files, each a true prefix of its file, and
 *   only where the test allows them (after a transport failure).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { hostFilePath, metaDir, storeTmpDir } from '../../lib/layout.ts';
import { listFiles } from './cli.ts';

export interface ExpectedFile {
  id: string;
  path: string;
  data: Buffer;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function readOrUndefined(p: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export interface StateExpectation {
  /** true: every file must hold its verified bytes; false: none may be installed (unless `previous`) */
  installed: boolean | ((f: ExpectedFile) => boolean);
  /** files of an earlier install that must still be there, byte for byte, when not (re)installed */
  previous?: Map<string, Buffer>;
  /** resumable partials allowed in <cache>/tmp (transport failures) */
  allowPartials?: boolean;
  /** temp files allowed in <hostDir>/.modelmount/tmp (right after a kill -9) */
  allowHostTemps?: boolean;
}

export async function expectCleanState(dirs: { hostDir: string; cacheDir: string }, files: ExpectedFile[], e: StateExpectation): Promise<void> {
  const known = new Map<string, Buffer[]>();
  for (const f of files) {
    const key = `${f.id}/${f.path}`;
    const installed = typeof e.installed === 'function' ? e.installed(f) : e.installed;
    const actual = await readOrUndefined(hostFilePath(dirs.hostDir, f.id, f.path));
    const prev = e.previous?.get(key);
    if (installed) {
      expect(actual && sha256(actual), `${key} installed with the verified bytes`).toBe(sha256(f.data));
    } else if (prev) {
      expect(actual && sha256(actual), `${key}: the previous install is untouched`).toBe(sha256(prev));
    } else {
      expect(actual, `${key} must not be in the host folder`).toBeUndefined();
    }
    known.set(key, [f.data, ...(prev ? [prev] : [])]);
  }
  // nothing else in the host folder but the manifest's files (and modelmount's own metadata)
  for (const rel of await listFiles(dirs.hostDir)) {
    if (rel.startsWith('.modelmount/') || rel.startsWith('.modelmount.')) continue;
    const allowed = known.get(rel.split(path.sep).join('/'));
    expect(allowed, `unexpected file in the host folder: ${rel}`).toBeDefined();
    const bytes = await fs.readFile(path.join(dirs.hostDir, rel));
    expect(allowed!.some((b) => b.equals(bytes)), `${rel} holds bytes that are neither verified nor the previous install`).toBe(true);
  }
  if (!e.allowHostTemps) expect(await listFiles(path.join(metaDir(dirs.hostDir), 'tmp')), 'temp files left in the host folder').toEqual([]);
  // every blob in the store is what its name says
  for (const rel of await listFiles(path.join(dirs.cacheDir, 'sha256'))) {
    const bytes = await fs.readFile(path.join(dirs.cacheDir, 'sha256', rel));
    expect(sha256(bytes), `store blob ${rel}`).toBe(path.basename(rel));
  }
  const tmp = await listFiles(storeTmpDir(dirs.cacheDir));
  if (!e.allowPartials) expect(tmp, 'temp files left in the store').toEqual([]);
  for (const rel of tmp) {
    expect(rel, 'only resumable partials may stay in the store').toMatch(/^[0-9a-f]{64}\..*\.partial$/);
    const sha = rel.slice(0, 64);
    const bytes = await fs.readFile(path.join(storeTmpDir(dirs.cacheDir), rel));
    const whole = files.find((f) => sha256(f.data) === sha)?.data;
    expect(whole, `partial ${rel} belongs to a file of the manifest`).toBeDefined();
    // a kill between the last write and the rename into the store leaves a complete partial: still a prefix
    expect(bytes.length).toBeLessThanOrEqual(whole!.length);
    expect(whole!.subarray(0, bytes.length).equals(bytes), `partial ${rel} is a true prefix of its file`).toBe(true);
  }
}
