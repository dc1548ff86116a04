// A hashing thread for lib/verify/hash-pool.ts. Plain JavaScript on purpose: worker
// threads do not inherit the tsx loader, and this file must run as it is.
//
// Requests (from the pool), each with a request id `rid`; every request gets one reply
// { rid, ok: true, ... } or { rid, ok: false, code, message }:
//   hashFile { path }                  sha256 of a whole file, read here (O_NOFOLLOW)
//   open     { job, fd, limit }        start a writer job on an open fd: hash the bytes already in
//                                      it (a resumed partial; longer than `limit`: truncated to 0)
//   write    { job, buf, len, pos }    hash buf[0..len) and write it at `pos`; buf is sent back
//   reset    { job }                   truncate the file to 0 and start the hash again
//   digest   { job }                   the hex sha256 and byte count so far (the job goes on)
//   drop     { job }                   end the job
//   cancel   { target }                stop the hashFile request `target` (it rejects with ABORT_ERR)
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';

const READ_CHUNK = 4 * 1024 * 1024;
const jobs = new Map();
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

async function open(m) {
  try {
    const hash = createHash('sha256');
    let size = fs.fstatSync(m.fd).size;
    if (size > m.limit) {
      fs.ftruncateSync(m.fd, 0);
      size = 0;
    }
    const job = { fd: m.fd, hash, pos: 0 };
    jobs.set(m.job, job);
    job.pos = await hashRange(m.fd, hash, size);
    parentPort.postMessage({ rid: m.rid, ok: true, pos: job.pos });
  } catch (err) {
    jobs.delete(m.job);
    fail(m.rid, err);
  }
}

function write(m) {
  const job = jobs.get(m.job);
  const buf = Buffer.from(m.buf, 0, m.len);
  try {
    if (!job) throw new Error(`no writer job ${m.job}`);
    job.hash.update(buf);
    let done = 0;
    while (done < m.len) done += fs.writeSync(job.fd, buf, done, m.len - done, m.pos + done);
    job.pos = m.pos + m.len;
    parentPort.postMessage({ rid: m.rid, ok: true, buf: m.buf }, [m.buf]);
  } catch (err) {
    parentPort.postMessage({ rid: m.rid, ok: false, code: err?.code ?? 'EIO', message: String(err?.message ?? err), buf: m.buf }, [m.buf]);
  }
}

parentPort.on('message', (m) => {
  switch (m.type) {
    case 'hashFile':
      void hashFile(m);
      break;
    case 'open':
      void open(m);
      break;
    case 'write':
      write(m);
      break;
    case 'reset': {
      const job = jobs.get(m.job);
      try {
        if (!job) throw new Error(`no writer job ${m.job}`);
        fs.ftruncateSync(job.fd, 0);
        job.hash = createHash('sha256');
        job.pos = 0;
        parentPort.postMessage({ rid: m.rid, ok: true });
      } catch (err) {
        fail(m.rid, err);
      }
      break;
    }
    case 'digest': {
      const job = jobs.get(m.job);
      if (job) parentPort.postMessage({ rid: m.rid, ok: true, sha256: job.hash.copy().digest('hex'), size: job.pos });
      else fail(m.rid, new Error(`no writer job ${m.job}`));
      break;
    }
    case 'drop':
      jobs.delete(m.job);
      parentPort.postMessage({ rid: m.rid, ok: true });
      break;
    case 'cancel':
      if (running.has(m.target)) cancelled.add(m.target);
      break;
    default:
      fail(m.rid, new Error(`unknown request ${m.type}`));
  }
});
