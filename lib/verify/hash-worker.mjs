// A hashing thread for lib/verify/hash-pool.ts. Plain JavaScript on purpose: worker
// threads do not inherit the tsx loader, and this file must run as it is.
//
// Requests, each with a request id `rid`; each hashFile gets one reply
// { rid, ok: true, sha256, size } or { rid, ok: false, code, message }:
//   hashFile { path }     sha256 of a whole file, read here (O_NOFOLLOW), yielding between chunks
//   cancel   { target }   stop the hashFile request `target` (it rejects with ABORT_ERR)
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';

const READ_CHUNK = 4 * 1024 * 1024;
const running = new Set();
const cancelled = new Set();
const yieldToEvents = () => new Promise((resolve) => setImmediate(resolve));

function fail(rid, err) {
  parentPort.postMessage({ rid, ok: false, code: err?.code ?? 'EIO', message: String(err?.message ?? err) });
}

/** Hash `length` bytes of `fd` from 0 into `hash`, yielding between chunks so cancels and other jobs get through. */
async function hashRange(fd, hash, length, rid) {
  const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(length, 1)));
  let pos = 0;
  while (pos < length) {
    if (rid !== undefined && cancelled.has(rid)) {
      const err = new Error('The operation was aborted');
      err.code = 'ABORT_ERR';
      throw err;
    }
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, length - pos), pos);
    if (n === 0) break;
    hash.update(n === buf.length ? buf : buf.subarray(0, n));
    pos += n;
    await yieldToEvents();
  }
  return pos;
}

async function hashFile(m) {
  let fd;
  running.add(m.rid);
  try {
    fd = fs.openSync(m.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const hash = createHash('sha256');
    const size = await hashRange(fd, hash, fs.fstatSync(fd).size, m.rid);
    parentPort.postMessage({ rid: m.rid, ok: true, sha256: hash.digest('hex'), size });
  } catch (err) {
    fail(m.rid, err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    running.delete(m.rid);
    cancelled.delete(m.rid);
  }
}

parentPort.on('message', (m) => {
  switch (m.type) {
    case 'hashFile':
      void hashFile(m);
      break;
    case 'cancel':
      if (running.has(m.target)) cancelled.add(m.target);
      break;
    default:
      fail(m.rid, new Error(`unknown request ${m.type}`));
  }
});
