// A hashing thread for lib/verify/hash-pool.ts. Plain JavaScript on purpose: worker
// threads do not inherit the tsx loader, and this file must run as it is.
//
// Requests carry a request id `rid`; those that are answered get one reply
// { rid, ok: true, ... } or { rid, ok: false, code, message }:
//   hashFile     { path, progressMs }  sha256 of a whole file, read here (O_NOFOLLOW), yielding
//                                      between chunks -> { sha256, size }; with `progressMs`, after
//                                      a chunk at most that often { rid, progress } (bytes read so
//                                      far) before the reply
//   cancel       { target }            stop the hashFile request `target` (it rejects with ABORT_ERR)
//   follow       { job, fd, avail }    hash an open file that is being written, from byte 0, as far
//                                      as `avail` bytes are known to be written (no reply)
//   followMore   { job, avail, gen }   more bytes are written; a new `gen` means the file was
//                                      truncated: start over from byte 0 (no reply)
//   followDigest { job, avail, gen }   reply { sha256, size } once bytes [0, avail) are hashed
//   followDrop   { job }               forget the job -> {}
//   yieldCores   {}                    lower this thread's priority from now on (no reply)
//   priority     {}                    -> { nice } this thread's nice value (tests)
// workerData { yieldCores: true } lowers the priority from the start.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

// While downloads run, hashing is throughput work that may lag a little; receiving is not (a
// socket not read in time slows the sender). On Linux the nice value is per thread: this lowers
// only this worker, so the main thread wins the core when both want it. Measured on the 2-core
// bench machine, 8 files over loopback: 2.49 -> 2.19 s (median of 9). Without downloads
// (`verify --full`) the same nice only gave the cores away to other processes, so the pool asks
// for it when its first download starts (and an unprivileged thread cannot take it back).
// Elsewhere (macOS: per process) it would slow the whole process, so it is Linux only; where it
// is not allowed, nothing changes.
let yielded = false;
function yieldCores() {
  if (yielded || process.platform !== 'linux') return;
  yielded = true;
  try {
    os.setPriority(0, Math.min(19, os.getPriority(0) + 10));
  } catch {
    // not permitted here: hash at normal priority
  }
}
if (workerData?.yieldCores) yieldCores();

const READ_CHUNK = 4 * 1024 * 1024;
/**
 * Reads when the caller follows progress (a deadline that a hash which stops moving fails): a file
 * read slower than one of these per idle bound (1 MiB in 30 s, ~35 KB/s) counts as stalled.
 */
const PROGRESS_READ = 1024 * 1024;
/** smaller for follow jobs: several downloads may be followed at once */
const FOLLOW_CHUNK = 1024 * 1024;
const running = new Set();
const cancelled = new Set();
const yieldToEvents = () => new Promise((resolve) => setImmediate(resolve));

function fail(rid, err) {
  parentPort.postMessage({ rid, ok: false, code: err?.code ?? 'EIO', message: String(err?.message ?? err) });
}

/**
 * Hash `length` bytes of `fd` from 0 into `hash`, yielding between chunks so cancels and other jobs
 * get through; `progress(pos)` after each chunk.
 */
async function hashRange(fd, hash, length, rid, progress) {
  const buf = Buffer.allocUnsafe(Math.min(progress ? PROGRESS_READ : READ_CHUNK, Math.max(length, 1)));
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
    progress?.(pos);
    await yieldToEvents();
  }
  return pos;
}

/** A progress callback that posts { rid, progress } at most every `ms`. */
function reportEvery(rid, ms) {
  let next = 0;
  return (pos) => {
    const now = Date.now();
    if (now < next) return;
    next = now + ms;
    parentPort.postMessage({ rid, progress: pos });
  };
}

async function hashFile(m) {
  let fd;
  running.add(m.rid);
  try {
    fd = fs.openSync(m.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const hash = createHash('sha256');
    const size = await hashRange(fd, hash, fs.fstatSync(fd).size, m.rid, m.progressMs === undefined ? undefined : reportEvery(m.rid, m.progressMs));
    parentPort.postMessage({ rid: m.rid, ok: true, sha256: hash.digest('hex'), size });
  } catch (err) {
    fail(m.rid, err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    running.delete(m.rid);
    cancelled.delete(m.rid);
  }
}

const follows = new Map();

/** Hash what is written and not hashed yet, in chunks, yielding so other jobs and messages get through. */
async function pump(job) {
  if (job.running) return;
  job.running = true;
  try {
    while (follows.get(job.id) === job) {
      if (job.pos < job.avail) {
        const n = fs.readSync(job.fd, job.buf, 0, Math.min(job.buf.length, job.avail - job.pos), job.pos);
        if (n === 0) throw Object.assign(new Error(`read nothing at byte ${job.pos} of ${job.avail}`), { code: 'EIO' });
        job.hash.update(n === job.buf.length ? job.buf : job.buf.subarray(0, n));
        job.pos += n;
        await yieldToEvents();
        continue;
      }
      if (job.digestRid !== undefined && job.pos >= job.digestAt) {
        const rid = job.digestRid;
        job.digestRid = undefined;
        parentPort.postMessage({ rid, ok: true, sha256: job.hash.copy().digest('hex'), size: job.pos });
      }
      break;
    }
  } catch (err) {
    job.error = err;
    if (job.digestRid !== undefined) {
      fail(job.digestRid, err);
      job.digestRid = undefined;
    }
  } finally {
    job.running = false;
  }
}

function followUpdate(m) {
  const job = follows.get(m.job);
  if (!job) return undefined;
  if (m.gen !== job.gen) {
    // the file was truncated and is being written again: start over
    job.gen = m.gen;
    job.hash = createHash('sha256');
    job.pos = 0;
    job.error = undefined;
  }
  job.avail = m.avail;
  return job;
}

parentPort.on('message', (m) => {
  switch (m.type) {
    case 'hashFile':
      void hashFile(m);
      break;
    case 'follow': {
      const job = { id: m.job, fd: m.fd, hash: createHash('sha256'), pos: 0, avail: m.avail, gen: 0, buf: Buffer.allocUnsafe(FOLLOW_CHUNK), running: false };
      follows.set(m.job, job);
      void pump(job);
      break;
    }
    case 'followMore': {
      const job = followUpdate(m);
      if (job) void pump(job);
      break;
    }
    case 'followDigest': {
      const job = followUpdate(m);
      if (!job) fail(m.rid, new Error(`no hash job ${m.job}`));
      else if (job.error) fail(m.rid, job.error);
      else {
        job.digestRid = m.rid;
        job.digestAt = m.avail;
        void pump(job);
      }
      break;
    }
    case 'followDrop':
      follows.delete(m.job);
      parentPort.postMessage({ rid: m.rid, ok: true });
      break;
    case 'yieldCores':
      yieldCores();
      break;
    case 'priority':
      parentPort.postMessage({ rid: m.rid, ok: true, nice: os.getPriority(0) });
      break;
    case 'cancel':
      if (running.has(m.target)) cancelled.add(m.target);
      break;
    default:
      fail(m.rid, new Error(`unknown request ${m.type}`));
  }
});
