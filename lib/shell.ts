/**
 * zx's `$`, imported on first use: zx costs 35–70 ms of start-up, which a run that never
 * talks to Docker (update without Compose files, verify, status of a bare folder) should not pay.
 */
import type { Shell } from 'zx';

let zx: Promise<Shell> | undefined;

export function loadShell(): Promise<Shell> {
  zx ??= import('zx/core').then((m) => m.$);
  return zx;
}
