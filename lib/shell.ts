/**
 * zx's `$`, imported on first use: zx costs 35–70 ms of start-up, which a run that never
 * talks to Docker (update without Compose files, verify, status of a bare folder) should not pay.
 */
import type { Shell } from 'zx';
import { importDependency } from './import-dependency.ts';

let zx: Promise<Shell> | undefined;

export function loadShell(): Promise<Shell> {
  zx ??= importDependency('zx', () => import('zx/core')).then((m) => m.$);
  return zx;
}

/** One argument as a POSIX shell reads it: plain words bare, anything else in single quotes. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command as one would type it (every command modelmount shows goes through this). */
export function formatCommandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
