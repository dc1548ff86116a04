// A stat worker (lib/verify/stat-verdicts.ts) on a slow but healthy folder: it reports progress
// every 50 ms for 1.5 s (longer than the 1 s idle bound its test sets), then answers as the
// real worker does.
import { setTimeout as delay } from 'node:timers/promises';
import { parentPort } from 'node:worker_threads';

const ticks = 30;
const tickMs = 50;
for (let i = 0; i < ticks; i++) {
  await delay(tickMs);
  parentPort.postMessage({ done: i });
}
await import('../../lib/verify/stat-worker.mjs');
