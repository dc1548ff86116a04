/** What the update and warm reports both say about a set of file results: bytes moved, and each failure with its file. */
import type { FileResult } from './installer.ts';

/** bytes received from sources, and bytes that earlier runs' partials saved (resumed) */
export function transferTotals(results: readonly Pick<FileResult, 'bytesTransferred' | 'resumedFrom'>[]): { bytesTransferred: number; bytesResumed: number } {
  return {
    bytesTransferred: results.reduce((s, r) => s + r.bytesTransferred, 0),
    bytesResumed: results.reduce((s, r) => s + r.resumedFrom, 0),
  };
}

/** one JSON entry per failed file: `{ file: "<artifact>/<path>", code, message, hint? … }` */
export function resultErrors(results: readonly Pick<FileResult, 'artifactId' | 'path' | 'error'>[]): ({ file: string } & Record<string, unknown>)[] {
  return results.filter((r) => r.error).map((r) => ({ file: `${r.artifactId}/${r.path}`, ...r.error!.toJSON() }));
}
