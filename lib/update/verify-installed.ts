/** What `verify` runs: the installed files (or the selection given) against the manifest, printed or as JSON; returns the exit status. */
import { ExitCode } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import type { Io } from '../io.ts';
import { loadRunContext, type ContextOptions } from '../run-context.ts';
import { formatBytes } from '../ui/format.ts';
import { verifyHostFiles } from '../verify/verify-files.ts';
import { installedSelection, type SelectionOptions } from './installed-set.ts';

export interface VerifyOptions extends ContextOptions, SelectionOptions {
  /** re-hash every file instead of trusting the verified-state cache */
  full?: boolean;
}

export async function verifyInstalled(opts: VerifyOptions, io: Io, signal: AbortSignal): Promise<number> {
  const ctx = await loadRunContext(opts, io, signal, 'host');
  // what the last update installed, unless flags say otherwise
  const artifacts = await installedSelection(ctx, opts, { signal });
  const started = Date.now();
  const checks = await verifyHostFiles(ctx.hostDir, artifacts, { full: Boolean(opts.full), jobs: ctx.jobs, signal });
  const bad = checks.filter((c) => c.status !== 'ok');
  const bytes = checks.reduce((s, c) => s + c.expected.size, 0);
  if (ctx.json) {
    io.stdout.write(
      `${JSON.stringify(
        {
          command: 'verify',
          ok: bad.length === 0,
          full: Boolean(opts.full),
          hostDir: ctx.hostDir,
          files: checks.map((c) => ({
            artifactId: c.artifactId,
            path: c.path,
            status: c.status,
            size: c.expected.size,
            sha256: c.expected.sha256,
            ...(c.actualSize !== undefined && c.actualSize !== c.expected.size ? { actualSize: c.actualSize } : {}),
            ...(c.actualSha256 && c.actualSha256 !== c.expected.sha256 ? { actualSha256: c.actualSha256 } : {}),
            cached: Boolean(c.cached),
          })),
          durationMs: Date.now() - started,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    for (const c of bad) {
      const detail =
        c.status === 'size'
          ? `size ${c.actualSize} bytes, expected ${c.expected.size}`
          : c.status === 'modified'
            ? `sha256 ${c.actualSha256}, expected ${c.expected.sha256}`
            : c.status;
      io.stdout.write(`✖ ${c.artifactId}/${c.path}: ${detail}\n`);
    }
    const hashed = checks.filter((c) => !c.cached && c.actualSha256 !== undefined).length;
    const fromCache = checks.filter((c) => c.cached).length;
    io.stdout.write(
      `${bad.length ? 'FAILED' : 'OK'}: ${checks.length - bad.length}/${checks.length} files verified (${formatBytes(bytes)}; ${hashed} hashed, ${fromCache} from the state cache) in ${((Date.now() - started) / 1000).toFixed(2)} s.\n`,
    );
    if (bad.length) io.stdout.write(`  → run \`${commandFor('update')}\` to repair them.\n`);
  }
  return bad.length ? ExitCode.integrity : ExitCode.ok;
}
