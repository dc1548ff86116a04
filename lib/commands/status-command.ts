/** `modelmount status`: one row per artifact of the manifest (the work: lib/status/gather-status.ts). */
import { defineCommand } from '../cli/command.ts';
import { contextOptions, selectionOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, SELECTION_FLAGS } from './specs.ts';

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'per artifact: selected, installed and verified, size, source, mounted by the override and by running containers',
  usage: 'modelmount status [ID...] [--full] [--only IDS] [--labels K=V] [--no-docker] [--json]',
  operands: 'artifacts',
  flags: [
    { name: 'full', type: 'boolean', help: 're-hash every installed file instead of trusting the verified-state cache' },
    ...pickFlags(SELECTION_FLAGS, 'only', 'labels', 'include-optional'),
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'cache-dir', 'jobs'),
    { name: 'docker', type: 'boolean', defaultTrue: true, env: 'MODELS_STATUS_DOCKER', help: 'do not ask Docker which running containers have the artifacts mounted' },
    { name: 'swarm', type: 'boolean', help: 'on a Swarm manager: per node, the set it holds and the tasks there (= modelmount swarm status)' },
    JSON_FLAG,
  ],
  details: 'SELECTED marks the installed set (what update installed, which the override mounts); arguments or selection flags mark those artifacts instead. Every artifact of the manifest is listed. Exit status 0 whatever the state, also when modelmount\'s own records cannot be read (a link or special file in <hostDir>/.modelmount: shown as a problem; use `verify` to fail on a bad install); 5 (ESTALLED) when the host folder stops answering.',
  async run(flags, io, signal) {
    const { formatStatus } = await import('../status/format-status.ts');
    const { gatherStatus } = await import('../status/gather-status.ts');
    const { printSwarmStatus } = await import('./fleet-output.ts');
    if (flags.swarm) return printSwarmStatus(flags, io, signal);
    const report = await gatherStatus({ ...contextOptions(flags), ...selectionOptions(flags), full: Boolean(flags.full), docker: flags.docker !== false }, io, { signal });
    io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    return 0;
  },
});
