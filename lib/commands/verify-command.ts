import { defineCommand } from '../cli/command.ts';
import { contextOptions, selectionOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, SELECTION_FLAGS } from './specs.ts';

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
  details: 'Checks the installed set (what update installed), or the artifacts named by arguments / --only / --labels / --include-optional. Exit status 4 when any selected file is missing, has the wrong size or content, or is not a regular file; 5 (ESTALLED) when the host folder stops answering.',
  async run(flags, io, signal) {
    const { verifyInstalled } = await import('../update/verify-installed.ts');
    return verifyInstalled({ ...contextOptions(flags), ...selectionOptions(flags), full: Boolean(flags.full) }, io, signal);
  },
});
