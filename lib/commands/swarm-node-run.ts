/**
 * `swarm node-run` flags → the node job (lib/fleet/swarm/node-run.ts): the update it runs is
 * parsed as `update --manifest <abs> --yes --json --no-compose --no-smoke` plus the job's
 * location flags, with the node's environment (MODELS_* fallbacks apply as on any update).
 */
import { COMMON_FLAGS, parseFlags, type CommonFlag, type SomeFlags } from '../cli/args.ts';
import type { Io } from '../io.ts';
import { runNodeUpdate } from '../fleet/swarm/node-run.ts';
import { updateOptions } from './options.ts';
import { UPDATE_FLAGS, type LocationFlag, type SelectionFlag } from './specs.ts';

export function runNodeJob(flags: SomeFlags<CommonFlag | SelectionFlag | LocationFlag>, io: Io, signal: AbortSignal, opts: { secretsDir?: string } = {}): Promise<number> {
  const only = flags.only ?? [];
  return runNodeUpdate(
    {
      manifest: flags.manifest,
      only,
      updateOptions: (manifestPath, env) => {
        const argv = ['--manifest', manifestPath, '--yes', '--json', '--no-compose', '--no-smoke'];
        for (const name of ['host-dir', 'cache-dir', 'retries', 'jobs', 'source'] as const) if (flags[name] !== undefined) argv.push(`--${name}`, String(flags[name]));
        if (only.length) argv.push('--only', only.join(','));
        return updateOptions(parseFlags(argv, [...COMMON_FLAGS, ...UPDATE_FLAGS], env, 'update'));
      },
    },
    io,
    signal,
    opts,
  );
}
