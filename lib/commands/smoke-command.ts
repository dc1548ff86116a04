import { defineCommand } from '../cli/command.ts';
import type { SmokeReport } from '../smoke/report.ts';
import { SmokeError } from '../errors.ts';
import { loadContext, selectionOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, SELECTION_FLAGS } from './specs.ts';

export const smokeCommand = defineCommand({
  name: 'smoke',
  summary: 'run a one-off container of each service (no network): files visible read-only, then the app\'s own load check',
  usage: 'modelmount smoke [ID...] [--full] [--only IDS] [--labels K=V] [--json]',
  operands: 'artifacts',
  flags: [
    { name: 'full', type: 'boolean', help: 'also compare sha256 inside the container (with the image\'s sha256sum)' },
    ...pickFlags(SELECTION_FLAGS, 'only', 'labels'),
    ...pickFlags(LOCATION_FLAGS, 'host-dir'),
    JSON_FLAG,
  ],
  details: 'Checks the installed set (what update installed, all mounted by the override), or only the artifacts named by arguments / --only / --labels. Exit 8 when a service does not see an artifact read-only with the manifest sizes, or smoke.command fails or times out.',
  async run(flags, io, signal) {
    const { formatSmoke } = await import('../smoke/format-smoke.ts');
    const { smokeStep } = await import('../releases/compose-steps.ts');
    const { installedSelection } = await import('../update/installed-set.ts');
    const ctx = await loadContext(flags, io, signal);
    const artifacts = await installedSelection(ctx, selectionOptions(flags), { signal });
    let report: SmokeReport | undefined;
    let error: SmokeError | undefined;
    try {
      report = (await smokeStep(ctx.manifest, artifacts, { env: io.env, cwd: io.cwd, full: Boolean(flags.full), signal, optional: false, onStep: ctx.json ? undefined : (m) => ctx.log(`  ${m}`) })).report;
    } catch (err) {
      if (!(err instanceof SmokeError) || !err.data?.report) throw err;
      error = err;
      report = err.data.report as SmokeReport;
    }
    if (ctx.json) io.stdout.write(`${JSON.stringify({ command: 'smoke', ...report, ...(error ? { error: { code: error.code, message: error.message, hint: error.hint } } : {}) }, null, 2)}\n`);
    else {
      io.stdout.write(formatSmoke(report!));
      // the report above already names every failure: only the fix is left to say
      if (error?.hint) io.stderr.write(`  → ${error.hint}\n`);
    }
    return error ? error.exitCode : 0;
  },
});
