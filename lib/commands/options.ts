/**
 * Flags → the typed options the services take. Every command builds its service's options here,
 * so the services never read ParsedFlags.
 */
import type { ParsedFlags } from '../cli/args.ts';
import type { Io } from '../io.ts';
import { loadRunContext, type ContextOptions, type RunContext } from '../run-context.ts';
import type { SelectionOptions } from '../update/installed-set.ts';
import type { PostInstallOptions } from '../update/post-install.ts';
import type { UpdateOptions } from '../update/run-update.ts';

export function contextOptions(flags: ParsedFlags): ContextOptions {
  return {
    manifest: flags.manifest as string | undefined,
    hostDir: flags['host-dir'] as string | undefined,
    cacheDir: flags['cache-dir'] as string | undefined,
    sourceUrl: flags['source-url'] as string | undefined,
    services: flags.services as string[] | undefined,
    jobs: flags.jobs as number | undefined,
    retries: flags.retries as number | undefined,
    json: Boolean(flags.json),
    yes: Boolean(flags.yes),
  };
}

/** The run context of a command: its manifest, folders and output, from its flags. */
export function loadContext(flags: ParsedFlags, io: Io): Promise<RunContext> {
  return loadRunContext(contextOptions(flags), io);
}

/** --only / --labels / --include-optional / --source (includeOptional undefined: not given, the question is open) */
export function selectionOptions(flags: ParsedFlags): SelectionOptions {
  return {
    only: flags.only as string[] | undefined,
    labels: flags.labels as string[] | undefined,
    includeOptional: flags._set?.includes('include-optional') ? Boolean(flags['include-optional']) : undefined,
    source: flags.source as string | undefined,
  };
}

/** --wait / --no-wait */
export function lockOptions(flags: ParsedFlags): { wait: boolean } {
  return { wait: flags.wait !== false };
}

export function updateOptions(flags: ParsedFlags): UpdateOptions {
  return {
    ...contextOptions(flags),
    ...selectionOptions(flags),
    ...lockOptions(flags),
    prune: Boolean(flags.prune),
    dryRun: Boolean(flags['dry-run']),
    offline: Boolean(flags.offline),
    verbose: Boolean(flags.verbose),
    quiet: Boolean(flags.quiet),
  };
}

export function postInstallOptions(flags: ParsedFlags): PostInstallOptions {
  return {
    ...lockOptions(flags),
    compose: Boolean(flags.compose),
    smoke: Boolean(flags.smoke),
    full: Boolean(flags.full),
    apply: Boolean(flags.apply),
  };
}
