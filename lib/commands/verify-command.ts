import { defineCommand } from '../cli/command.ts';
import { ExitCode } from '../errors.ts';
import { installedSelection } from './installed-selection.ts';
import { formatBytes } from '../ui/format.ts';
import { verifyHostFiles } from '../verify/verify-files.ts';
import { loadContext } from './context.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, SELECTION_FLAGS } from './specs.ts';
import { commandFor } from '../invocation.ts';

export const verifyCommand = defineCommand({
  name: 'verify',
  summary: 'check the installed files against the manifest (fast: state cache; --full: re-hash every byte)',
  usage: 'modelmount verify [ID...] [--full] [--only IDS] [--labels K=V] [--json]',
  operands: 'artifacts',
  flags: [
    { name: 'full', type: 'boolean', help: 're-hash every file instead of trusting the verified-state cache' },
    ...pickFlags(SELECTION_FLAGS, 'only', 'labels', 'include-optional'),
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'jobs'),
    JSON_FLAG,
  ],
  details: 'Checks the installed set (what update installed), or the artifacts named by arguments / --only / --labels / --include-optional. Exit status 4 when any selected file is missing, has the wrong size or content, or is not a regular file.',
  async run(flags, io, signal) {
    const ctx = await loadContext(flags, io);
    // what the last update installed, unless flags say otherwise
    const artifacts = await installedSelection(ctx, flags);
    const started = Date.now();
    const checks = await verifyHostFiles(ctx.hostDir, artifacts, { full: flags.full, jobs: ctx.jobs, signal });
    const bad = checks.filter((c) => c.status !== 'ok');
    const bytes = checks.reduce((s, c) => s + c.expected.size, 0);
    if (ctx.json) {
      io.stdout.write(
        `${JSON.stringify(
          {
            command: 'verify',
            ok: bad.length === 0,
            full: flags.full,
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
  },
});
