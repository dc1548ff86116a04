import { defineCommand } from '../cli/command.ts';
import { loadContext, lockOptions, selectionOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, WAIT_FLAG } from './specs.ts';

export const composeCommand = defineCommand({
  name: 'compose',
  summary: 'write the Compose override that mounts the installed artifacts read-only, and validate it with Compose',
  usage: 'modelmount compose [--print] [--force] [--no-wait] [--json]',
  flags: [
    { name: 'print', type: 'boolean', help: 'only print the exact `docker compose -f … -f …` command line and how else to include the override (writes nothing)' },
    { name: 'force', type: 'boolean', help: 'replace an override file that modelmount did not write' },
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'jobs'),
    WAIT_FLAG,
    JSON_FLAG,
  ],
  details: `Mounts every installed artifact (the install record: what update installed; before the first
update, every non-optional artifact). To change that set, run update (it adds; --prune removes). Never edits your base
Compose files. Checks every mount source exists and holds the verified files before Compose runs,
then checks in \`config\` output that each artifact is mounted read-only in every listed service.
Holds the host folder's run lock while it reads the install record and writes the override, like update.`,
  async run(flags, io, signal) {
    const { composeStep } = await import('../releases/compose-steps.ts');
    const { installedSelection } = await import('../update/installed-set.ts');
    const { composeInvocation } = await import('../compose/invocation.ts');
    const { composeSettingsOf } = await import('../compose/override.ts');
    const { findSmokeEngine } = await import('../smoke/engine.ts');
    const { withRunLock } = await import('../lock/run-lock.ts');
    const { runLockDirs, runLockOptions } = await import('../lock/run-lock-options.ts');
    const ctx = await loadContext(flags, io, signal);
    if (flags.print) {
      // shows how to use the override and changes nothing: no write, no validation
      composeSettingsOf(ctx.manifest);
      const found = await findSmokeEngine({ env: io.env, cwd: io.cwd });
      const inv = composeInvocation(ctx.manifest, found.compose, { cwd: io.cwd });
      if (ctx.json) io.stdout.write(`${JSON.stringify({ command: 'compose', ok: true, printed: true, override: ctx.manifest.compose!.override, commandLine: inv.commandLine, composeFile: inv.composeFile }, null, 2)}\n`);
      else io.stdout.write(`${inv.guidance}\n`);
      return 0;
    }
    const { artifacts, report } = await withRunLock(runLockDirs(io.env, [{ dir: ctx.hostDir, folder: 'host' }]), runLockOptions(lockOptions(flags), ctx, 'compose', signal), async (locked) => {
      const artifacts = await installedSelection(ctx, selectionOptions(flags), { signal: locked });
      return { artifacts, report: await composeStep(ctx.manifest, artifacts, { env: io.env, cwd: io.cwd, signal: locked, force: Boolean(flags.force), jobs: ctx.jobs }) };
    });
    if (ctx.json) {
      io.stdout.write(`${JSON.stringify({ command: 'compose', ok: true, artifacts: artifacts.map((a) => a.id), ...report }, null, 2)}\n`);
      return 0;
    }
    io.stdout.write(`${report.changed ? 'Wrote' : 'Unchanged:'} ${report.override} (${artifacts.length} artifact${artifacts.length === 1 ? '' : 's'}, read-only)\n`);
    io.stdout.write(report.validated ? `Validated with ${report.engine?.command.join(' ')} ${report.engine?.fullVersion}: every artifact is mounted read-only in ${ctx.manifest.compose!.services.join(', ')}.\n` : `${report.skipped}\n`);
    io.stdout.write(`Use it with: ${report.commandLine} up   (--print for other ways)\n`);
    return 0;
  },
});
