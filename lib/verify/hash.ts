/**
 * sha256 of a file, off the main thread (hasha runs it in a worker thread).
 * Always sha256: hasha's default is sha512.
 */
import { hashFile } from 'hasha';

export function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  return hashFile(file, { algorithm: 'sha256', encoding: 'hex', signal });
}
