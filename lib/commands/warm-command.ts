/**
 * `modelmount warm`: the CI cache-warm step (the work: lib/update/run-warm.ts). `--key` prints the
 * cache key for the selection, so a CI cache keyed by it is invalidated exactly when the bytes change.
 */
import { defineCommand } from '../cli/command.ts';
import { commandFor, formatExamples } from '../invocation.ts';
import { contextOptions, loadContext, lockOptions, selectionOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, SELECTION_FLAGS, WAIT_FLAG } from './specs.ts';

export const warmCommand = defineCommand({
  name: 'warm',
  summary: 'fill the download store for the selection and verify it (CI cache warm step; no host folder, no Docker); --key prints the cache key',
  operands: 'artifacts',
  usage: 'modelmount warm [ID...] [--key] [--only IDS] [--labels K=V] [--source NAME] [--cache-dir DIR] [--json]',
  flags: [
    { name: 'key', type: 'boolean', help: 'print only the cache key of the selection (modelmount-v1-<sha256>) and do nothing else' },
    { name: 'full', type: 'boolean', help: 're-hash every blob already in the store instead of trusting the verified-state cache' },
    ...SELECTION_FLAGS.filter((f) => f.name !== 'yes'),
    ...LOCATION_FLAGS.filter((f) => f.name !== 'host-dir'),
    WAIT_FLAG,
    JSON_FLAG,
  ],
  get details() {
    return `The key covers the selected artifacts' ids, file paths, sizes and sha256s — not comments,
descriptions, labels or source URLs — so it changes exactly when the bytes to cache change.

Examples (GitHub Actions / GitLab CI; from an npm script use npm run -s, or npm's header lines join the key):
${formatExamples([
  [`key=$(${commandFor('warm', '--key').replace(/^npm run /, 'npm run -s ')})`],
  [commandFor('warm', '--cache-dir .cache/models'), 'then save .cache/models under $key'],
])}`;
  },
  async run(flags, io, signal) {
    const { chooseSelection } = await import('../update/choose-selection.ts');
    const { cacheKeyOf, formatWarmSummary, runWarm } = await import('../update/run-warm.ts');
    if (flags.key) {
      const ctx = { ...(await loadContext(flags, io, signal)), interactive: false };
      const { artifacts } = await chooseSelection(ctx, selectionOptions(flags));
      const key = cacheKeyOf(artifacts);
      io.stdout.write(ctx.json ? `${JSON.stringify({ command: 'warm', ok: true, key, selection: artifacts.map((a) => a.id) }, null, 2)}\n` : `${key}\n`);
      return 0;
    }
    const { exitCode, report } = await runWarm({ ...contextOptions(flags), ...selectionOptions(flags), ...lockOptions(flags), full: Boolean(flags.full), quiet: Boolean(flags.quiet) }, io, signal);
    io.stdout.write(report && flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatWarmSummary(report));
    return exitCode;
  },
});
