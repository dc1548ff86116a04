/**
 * A child process for test/pooled-read.test.ts, run with UV_THREADPOOL_SIZE=1:
 *   node --import tsx test/helpers/pooled-read-hung-child.ts <file> <fifo>
 * A file source's large-file stream (readPooled under boundStalls, as lib/sources/file.ts makes it)
 * whose read never returns, as on a hung mount: the process's only libuv thread is blocked in the
 * kernel on opening <fifo> for reading (nobody writes it, test/stall.test.ts's mechanism), and the
 * stream's read of <file> waits behind it. The run's signal aborts; after a few turns of the event
 * loop the child notes what the consumer saw, then lets the read return (a writer opens the FIFO) and
 * notes what was left behind. Prints one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import { readPooled } from '../../lib/sources/pooled-read.ts';
import { boundStalls, STALL_DEFAULTS, stuckOperations, stuckOperationsSettled } from '../../lib/stall.ts';

const [file, fifo] = process.argv.slice(2) as [string, string];
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const data = await fs.readFile(file);
const handle = await fs.open(file, 'r');
const stuckBefore = stuckOperations();
// takes the only thread until a writer opens the FIFO: every later file operation waits
const blocked = fs.open(fifo, fsc.O_RDONLY);

const ac = new AbortController();
const pooled = readPooled(handle, { start: 0, end: data.length, signal: ac.signal });
const out = boundStalls(pooled.stream, STALL_DEFAULTS, (why) => Object.assign(new Error(`stalled: ${why}`), { code: 'ESTALLED' }));
const got: Buffer[] = [];
let failure: Error | undefined;
out.on('data', (c: Buffer) => got.push(Buffer.from(c)));
out.on('error', (err) => (failure = err));
await turns(5); // the stream's first read is queued behind the blocked open
const chunksBeforeAbort = got.length;

ac.abort();
await turns(5);
const atAbort = {
  consumerError: failure?.name,
  consumerClosed: out.closed,
  streamClosed: pooled.stream.closed,
  fdOpen: handle.fd !== -1,
  stuck: stuckOperations() - stuckBefore,
};

// the mount answers again: a writer (another process: this one's thread is taken) opens the FIFO
const writer = spawnSync('sh', ['-c', ': > "$1"', 'sh', fifo]);
if (writer.status !== 0) throw new Error(`opening ${fifo} for writing failed: ${writer.stderr}`);
await (await blocked).close();
const settled = await stuckOperationsSettled(10_000);
await turns(5);

process.stdout.write(
  `${JSON.stringify({
    chunksBeforeAbort,
    atAbort,
    afterRelease: {
      settled,
      stuck: stuckOperations() - stuckBefore,
      fd: handle.fd,
      chunksAfterAbort: got.length - chunksBeforeAbort,
      prefixOfFile: data.subarray(0, Buffer.concat(got).length).equals(Buffer.concat(got)),
    },
  })}\n`,
);
