/**
 * `modelmount gc`: remove what modelmount installed and nothing wants any more (the work:
 * lib/gc/run-gc.ts). On a terminal it asks first; without one, store blobs go only with --yes.
 * `--dry-run` lists what would go and the bytes it would free; a real run holds the run lock.
 */
import { defineCommand } from '../cli/command.ts';
import { folderOptions, lockOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, WAIT_FLAG } from './specs.ts';

export const gcCommand = defineCommand({
  name: 'gc',
  summary: 'remove what modelmount installed and nothing wants any more: host artifact folders and store blobs (--dry-run lists them)',
  usage: 'modelmount gc [--manifest PATH]... [--dry-run] [--yes] [--no-wait] [--json]',
  flags: [
    {
      name: 'manifest',
      type: 'list',
      value: 'PATH',
      env: 'MODELS_MANIFEST',
      help: 'manifest(s) whose artifacts to keep; repeat or separate with commas (default manifests/models.yaml)',
    },
    { name: 'dry-run', type: 'boolean', help: 'list what would be removed and the bytes it would free; remove nothing' },
    { name: 'yes', type: 'boolean', alias: 'y', env: 'MODELS_YES', help: 'remove without asking, store blobs included (without a terminal, store blobs go only with --yes)' },
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'cache-dir'),
    WAIT_FLAG,
    JSON_FLAG,
  ],
  details: `Removes only what an install record says modelmount installed and no live record (one whose
manifest file is still there) wants; anything else in the host folder is listed as "not ours, left
alone". Kept, always: every file of the given manifests' artifacts (selected or optional), every
folder the manifests' Compose override mounts, every blob an install registered in the store uses
(while its host folder and manifest exist; a registration whose host folder or manifest is gone is
forgotten).
On a terminal gc lists what it would remove and asks; without a terminal it removes store blobs
only with --yes (it says how many it left). Also removed: partial downloads untouched for a day,
leftover temp files. Host folders without a .modelmount/ folder inside are never touched.`,
  async run(flags, io, signal) {
    const { formatGc } = await import('../gc/report.ts');
    const { runGc } = await import('../gc/run-gc.ts');
    const report = await runGc(
      {
        ...lockOptions(flags),
        manifests: flags.manifest,
        ...folderOptions(flags),
        dryRun: Boolean(flags['dry-run']),
        yes: Boolean(flags.yes),
        json: Boolean(flags.json),
      },
      io,
      signal,
    );
    io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatGc(report));
    return 0;
  },
});
