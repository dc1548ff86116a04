/**
 * `modelmount rollback`: make the previous kept release set current again (or `--to <digest>`),
 * with no network: the releases are already on disk. Brings `<hostDir>/<artifact id>` back to that
 * set's files, rewrites the override, then smoke-tests (or, with --apply, recreates the services
 * whose mounts changed and smoke-tests them). The work: lib/releases/run-rollback.ts.
 */
import { defineCommand } from '../cli/command.ts';
import { contextOptions, lockOptions } from './options.ts';
import { APPLY_FLAG, JSON_FLAG, LOCATION_FLAGS, pickFlags, WAIT_FLAG } from './specs.ts';

export const rollbackCommand = defineCommand({
  name: 'rollback',
  summary: 'return to the previous release set (or --to DIGEST) without network; --apply recreates the services',
  usage: 'modelmount rollback [--to DIGEST] [--apply] [--json]',
  flags: [
    { name: 'to', type: 'string', value: 'DIGEST', help: 'the release set to return to (a digest or a unique prefix; `modelmount status` lists the kept sets)' },
    APPLY_FLAG,
    { name: 'smoke', type: 'boolean', defaultTrue: true, env: 'MODELS_SMOKE', help: 'skip the container smoke test' },
    { name: 'full', type: 'boolean', help: 'smoke test: also compare sha256 inside the container' },
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'jobs'),
    WAIT_FLAG,
    JSON_FLAG,
  ],
  details: `Keeps the last keepReleases sets (manifest, default 3). Exit 2 when there is no set to return to,
5 when its releases are gone, 8 when the smoke test fails.`,
  run: async (flags, io, signal) =>
    (await import('../releases/run-rollback.ts')).runRollback({ ...contextOptions(flags), ...lockOptions(flags), to: flags.to, apply: Boolean(flags.apply), smoke: flags.smoke !== false, full: Boolean(flags.full) }, io, signal),
});
