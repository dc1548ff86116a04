/**
 * A child process for kill -9 tests of one fetch (test/fetch-ranges.test.ts):
 *   node --import tsx test/helpers/fetch-child.ts <cacheDir> <baseUrl> <path> <size> <sha256> <pieceSize>
 * fetches the file over several connections (pieces of <pieceSize>, up to 4 at once) and prints
 * the blob path when done.
 */
import { Semaphore } from '../../lib/concurrency.ts';
import { createHttpSource } from '../../lib/sources/http/source.ts';
import { fetchBlob } from '../../lib/store/fetch-blob.ts';

const [cacheDir, base, filePath, size, sha256, pieceSize] = process.argv.slice(2) as [string, string, string, string, string, string];
const slots = new Semaphore(3);
const source = createHttpSource({ name: 'mirror', kind: 'http', base }, { timeouts: { idleMs: 60_000, connectMs: 2000, stallWindowMs: 60_000 } });
const r = await fetchBlob({
  cacheDir,
  artifactId: 'student/v0_ja',
  file: { path: filePath, size: Number(size), sha256 },
  sources: [source],
  extraConnection: () => slots.tryAcquire(),
  rangedMinSize: 0,
  rangePieceSize: Number(pieceSize),
});
process.stdout.write(`${r.blob}\n`);
