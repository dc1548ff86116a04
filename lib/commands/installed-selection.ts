/**
 * The installed set: the artifacts the last update installed (the install
 * record), which the override mounts. `update` adds its selection to it (or,
 * with --prune, replaces it); compose and doctor always act on it; verify,
 * smoke and status act on it unless selection flags name other artifacts to check.
 */
import type { SomeFlags } from '../cli/args.ts';
import type { SelectionFlag } from './specs.ts';
import { readInstallRecord } from '../install-record.ts';
import { parseLabelFlags, selectArtifacts, type SelectOptions } from '../manifest/select.ts';
import type { Artifact } from '../manifest/schema.ts';
import type { CommandContext } from './context.ts';

export type SelectionFlags = SomeFlags<Extract<SelectionFlag, { name: 'only' | 'labels' | 'include-optional' }>>;

/** --only / --labels / --include-optional as selectArtifacts options (labels parsed). */
export function selectOptionsFromFlags(flags: SelectionFlags): SelectOptions {
  const labels = flags.labels;
  return {
    only: flags.only,
    labels: labels?.length ? parseLabelFlags(labels) : undefined,
    includeOptional: Boolean(flags['include-optional']),
  };
}

/** The ids the install record lists that this manifest still has, in manifest order ([] before the first update). */
export async function readInstalledIds(ctx: Pick<CommandContext, 'manifest' | 'hostDir'>): Promise<string[]> {
  const record = await readInstallRecord(ctx.hostDir, ctx.manifest.path);
  return ctx.manifest.artifacts.filter((a) => record?.artifacts[a.id] !== undefined).map((a) => a.id);
}

/** The artifacts named by selection flags, else the installed set, else (nothing installed yet) the manifest's defaults. */
export async function installedSelection(ctx: CommandContext, flags: SelectionFlags): Promise<Artifact[]> {
  const opts = selectOptionsFromFlags(flags);
  if (opts.only?.length || opts.labels || opts.includeOptional) return selectArtifacts(ctx.manifest, opts);
  const installed = new Set(await readInstalledIds(ctx));
  if (installed.size) return ctx.manifest.artifacts.filter((a) => installed.has(a.id));
  return selectArtifacts(ctx.manifest, {});
}
