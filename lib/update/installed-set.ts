/**
 * The installed set: the artifacts the last update installed (the install
 * record), which the override mounts. `update` adds its selection to it (or,
 * with --prune, replaces it); compose and doctor always act on it; verify,
 * smoke and status act on it unless selection flags name other artifacts to check.
 */
import { readInstallRecord } from '../install-record.ts';
import { parseLabelFlags, selectArtifacts, type SelectOptions } from '../manifest/select.ts';
import type { Artifact } from '../manifest/schema.ts';
import type { RunContext } from '../run-context.ts';

/** --only / --labels / --include-optional / --source, as given */
export interface SelectionOptions {
  only?: string[];
  /** K=V as given (parsed by selectOptionsOf) */
  labels?: string[];
  /** undefined: not given (update asks on a terminal) */
  includeOptional?: boolean;
  /** the source to try first */
  source?: string;
}

/** The selection options as selectArtifacts options (labels parsed). */
export function selectOptionsOf(opts: SelectionOptions): SelectOptions {
  const labels = opts.labels;
  return {
    only: opts.only,
    labels: labels?.length ? parseLabelFlags(labels) : undefined,
    includeOptional: Boolean(opts.includeOptional),
  };
}

/** The ids the install record lists that this manifest still has, in manifest order ([] before the first update). */
export async function readInstalledIds(ctx: Pick<RunContext, 'manifest' | 'hostDir'>, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
  const record = await readInstallRecord(ctx.hostDir, ctx.manifest.path, opts);
  return ctx.manifest.artifacts.filter((a) => record?.artifacts[a.id] !== undefined).map((a) => a.id);
}

/**
 * The artifacts named by selection options, else the installed set, else (nothing installed yet)
 * the manifest's defaults. `signal`: the run's, for the read of the install record.
 */
export async function installedSelection(ctx: RunContext, selection: SelectionOptions, read: { signal?: AbortSignal } = {}): Promise<Artifact[]> {
  const opts = selectOptionsOf(selection);
  if (opts.only?.length || opts.labels || opts.includeOptional) return selectArtifacts(ctx.manifest, opts);
  const installed = new Set(await readInstalledIds(ctx, read));
  if (installed.size) return ctx.manifest.artifacts.filter((a) => installed.has(a.id));
  return selectArtifacts(ctx.manifest, {});
}
