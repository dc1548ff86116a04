/**
 * A local or NFS folder as a source. Files are opened without following a
 * symlink in the last component (O_NOFOLLOW), every parent folder must resolve
 * inside the source root, and the opened handle must be a regular file: a tree
 * that links to /etc/passwd cannot leak it into the store.
 */
import { constants as fsc, createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { SourceError } from '../errors.ts';
import type { ResolvedSource } from '../manifest/schema.ts';
import type { OpenedRange, OpenRequest, Source } from './types.ts';

const READ_CHUNK = 1024 * 1024;

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export function createFileSource(src: ResolvedSource): Source {
  const root = src.base;
  let realRoot: Promise<string> | undefined;
  const name = src.name;

  const fail = (code: string, message: string, retryable: boolean, cause?: unknown): SourceError =>
    new SourceError(code, message, { retryable, cause });

  async function open(req: OpenRequest): Promise<OpenedRange> {
    const rel = `${req.artifactId}/${req.path}`;
    const file = path.join(root, ...rel.split('/'));
    realRoot ??= fs.realpath(root);
    let rootReal: string;
    try {
      rootReal = await realRoot;
    } catch (err) {
      realRoot = undefined;
      throw fail('ENOROOT', `source folder ${root} is not reachable (${(err as NodeJS.ErrnoException).code ?? 'error'})`, false, err);
    }
    let parentReal: string;
    try {
      parentReal = await fs.realpath(path.dirname(file));
    } catch (err) {
      throw fail('EMISSING', `${rel} not found in ${root}`, false, err);
    }
    if (!isInside(rootReal, parentReal)) {
      throw fail('EOUTSIDE', `${rel} resolves outside the source folder ${root} (a symlinked folder): refused`, false);
    }
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(path.join(parentReal, path.basename(file)), fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || code === 'EMLINK') {
        throw fail('ESYMLINK', `${rel} in ${root} is a symlink: refused (copy the real file into the source folder)`, false, err);
      }
      if (code === 'ENOENT') throw fail('EMISSING', `${rel} not found in ${root}`, false, err);
      throw fail(code ?? 'EIO', `cannot open ${rel} in ${root} (${code ?? 'error'})`, code === 'EIO' || code === 'ESTALE', err);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw fail('ENOTFILE', `${rel} in ${root} is not a regular file: refused`, false);
      if (st.size !== req.expectedSize) {
        throw fail('ESIZE', `${rel} in ${root} is ${st.size} bytes, the manifest says ${req.expectedSize}`, false);
      }
      const start = req.offset <= st.size ? req.offset : 0;
      const stream = createReadStream('', { fd: handle, start, highWaterMark: READ_CHUNK, autoClose: true, signal: req.signal });
      return { start, totalSize: st.size, stream };
    } catch (err) {
      await handle.close().catch(() => {});
      throw err;
    }
  }

  async function probe(): Promise<void> {
    try {
      const st = await fs.stat(root);
      if (!st.isDirectory()) throw new Error('not a folder');
    } catch (err) {
      throw fail('ENOROOT', `source folder ${root} is not reachable: ${(err as Error).message}`, false, err);
    }
  }

  return { name, kind: 'file', display: `${name} (${root})`, open, probe };
}
