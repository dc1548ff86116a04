/**
 * Flags → the typed options the services take. Every command builds its service's options here,
 * so the services never read ParsedFlags. Each builder reads any of the flags it names; a command
 * that lacks one of them passes it as absent.
 */
import type { CommonFlag, SomeFlags } from '../cli/args.ts';
import type { Io } from '../io.ts';
import type { ContextOptions, RunContext } from '../run-context.ts';
import type { SelectionOptions } from '../update/installed-set.ts';
import type { PostInstallOptions } from '../update/post-install.ts';
import type { UpdateOptions } from '../update/run-update.ts';
import type { APPLY_FLAG, JSON_FLAG, LocationFlag, POST_INSTALL_FLAGS, SelectionFlag, SERVICES_FLAG, UPDATE_FLAGS, WAIT_FLAG } from './specs.ts';

type ContextFlags = SomeFlags<CommonFlag | LocationFlag | SelectionFlag | typeof SERVICES_FLAG | typeof JSON_FLAG>;

/** --host-dir and --cache-dir, and whether the command has --cache-dir at all (a hint names it only then). */
export function folderOptions(flags: SomeFlags<LocationFlag>): Pick<ContextOptions, 'hostDir' | 'cacheDir' | 'cacheDirOption'> {
  return { hostDir: flags['host-dir'], cacheDir: flags['cache-dir'], cacheDirOption: flags.known?.has('cache-dir') ?? false };
}

export function contextOptions(flags: ContextFlags): ContextOptions {
  return {
    manifest: flags.manifest,
    ...folderOptions(flags),
    sourceUrl: flags['source-url'],
    services: flags.services,
    jobs: flags.jobs,
    retries: flags.retries,
    json: Boolean(flags.json),
    yes: Boolean(flags.yes),
  };
}

/**
 * The run context of a command that never uses the store (compose, smoke, apply, warm --key, the
 * fleet commands): its manifest, host folder and output, from its flags; `signal`: the run's.
 */
export async function loadContext(flags: ContextFlags, io: Io, signal: AbortSignal): Promise<RunContext> {
  const { loadRunContext } = await import('../run-context.ts');
  return loadRunContext(contextOptions(flags), io, signal, 'host');
}

/** --only / --labels / --include-optional / --source (includeOptional undefined: not given, the question is open) */
export function selectionOptions(flags: SomeFlags<SelectionFlag>): SelectionOptions {
  return {
    only: flags.only,
    labels: flags.labels,
    includeOptional: flags.given?.has('include-optional') ? Boolean(flags['include-optional']) : undefined,
    source: flags.source,
  };
}

/** --wait / --no-wait */
export function lockOptions(flags: SomeFlags<typeof WAIT_FLAG>): { wait: boolean } {
  return { wait: flags.wait !== false };
}

export function updateOptions(flags: ContextFlags & SomeFlags<(typeof UPDATE_FLAGS)[number]>): UpdateOptions {
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

export function postInstallOptions(flags: SomeFlags<(typeof POST_INSTALL_FLAGS)[number] | typeof APPLY_FLAG | typeof WAIT_FLAG>): PostInstallOptions {
  return {
    ...lockOptions(flags),
    compose: Boolean(flags.compose),
    smoke: Boolean(flags.smoke),
    full: Boolean(flags.full),
    apply: Boolean(flags.apply),
  };
}
