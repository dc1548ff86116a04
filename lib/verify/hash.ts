/**
 * sha256 of a file, off the main thread, on the hash pool (lib/verify/hash-pool.ts): several
 * files hash on several cores at once. Never follows a final symlink.
 */
import { hashPool } from './hash-pool.ts';
import type { ReadProgress } from './hash-pool-worker.ts';

/** `progress`: how far it has read, at most every `everyMs` (a wait on a hung mount follows it). */
export function sha256File(file: string, signal?: AbortSignal, progress?: ReadProgress): Promise<string> {
  return hashPool().hashFile(file, signal, progress);
}
