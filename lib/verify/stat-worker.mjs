// The per-file look (lstat) of a cached verify, off the main thread: lib/verify/stat-verdicts.ts.
// Plain JavaScript on purpose: worker threads do not inherit the tsx loader, and this file must
// run as it is.
//
// One request, one reply, and progress between. workerData: { paths, sizes, ids, progressMs } (the
// first three the same length): each host file's path, the size the manifest wants, and the
// identity (dev:ino:size:mtimeNs:ctimeNs, as lib/verify/state-cache.ts statIdentity writes it) its
// state-cache entry was recorded for ('' when none). Reply { verdicts } (a Uint8Array, transferred): per file
//   1  a regular file of that size with exactly that identity: the cached hash vouches for it
//   2  not there (ENOENT / ENOTDIR)
//   0  anything else (no entry, other identity, other size, not a regular file, an error): the main
//      thread looks again itself (verify-files.ts checkHostFile), with the same rules as always
// Every `progressMs` (at most) while it looks it posts { done } (files looked at so far): the main
// thread's idle deadline follows it, so a slow but healthy folder is waited for, a hung one is not.
// lstatSync never follows a link. A hung mount hangs only this thread: the main thread stays
// responsive and terminates it when the run is aborted or the worker stays silent.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const { paths, sizes, ids, progressMs } = workerData;
const verdicts = new Uint8Array(paths.length);
let nextProgress = Date.now() + progressMs;
for (let i = 0; i < paths.length; i++) {
  if (Date.now() >= nextProgress) {
    parentPort.postMessage({ done: i });
    nextProgress = Date.now() + progressMs;
  }
  let st;
  try {
    st = fs.lstatSync(paths[i], { bigint: true, throwIfNoEntry: false });
  } catch (err) {
    verdicts[i] = err?.code === 'ENOTDIR' ? 2 : 0;
    continue;
  }
  if (st === undefined) verdicts[i] = 2;
  else if (ids[i] && st.isFile() && st.size === BigInt(sizes[i]) && `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` === ids[i]) verdicts[i] = 1;
}
parentPort.postMessage({ verdicts }, [verdicts.buffer]);
