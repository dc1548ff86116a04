import { defineCommand } from '../cli/command.ts';
import { contextOptions, selectionOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags } from './specs.ts';

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'check .dockerignore, Compose mounts, env vars, host folders and the override for the "models not mounted" failure',
  usage: 'modelmount doctor [--full] [--json]',
  flags: [
    { name: 'full', type: 'boolean', help: 're-hash the host files instead of trusting the verified-state cache' },
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'jobs'),
    JSON_FLAG,
  ],
  details: 'Checks the installed set (what update installed; before the first update, every non-optional artifact): what the override mounts. Each finding has an id, a verdict (ok / warn / error), the file and line that cause it, and the fix. Exit 7 when any error is found; 5 (ESTALLED) when the host folder stops answering while doctor looks at it (its folders, links or files); Ctrl+C ends that wait at once (130).',
  async run(flags, io, signal) {
    const { doctorInstalled } = await import('../doctor/doctor-installed.ts');
    return doctorInstalled({ ...contextOptions(flags), ...selectionOptions(flags), full: Boolean(flags.full), verbose: Boolean(flags.verbose) }, io, signal);
  },
});
