/**
 * sha256 of a file, off the main thread, on the hash pool (lib/verify/hash-pool.ts): several
 * files hash on several cores at once. Never follows a final symlink.
 */
import { hashPool } from './hash-pool.ts';

export function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  return hashPool().hashFile(file, signal);
}
