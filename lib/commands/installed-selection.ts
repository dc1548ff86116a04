/**
 * Which artifacts a command acts on when it does not install: the ones named by
 * flags, else the ones the last update installed (install record), else the defaults.
 */
import type { ParsedFlags } from '../cli/args.ts';
import { readInstallRecord } from '../install-record.ts';
import { parseLabelFlags, selectArtifacts, type SelectOptions } from '../manifest/select.ts';
import type { Artifact } from '../manifest/schema.ts';
import type { CommandContext } from './context.ts';

/** --only / --labels / --include-optional as selectArtifacts options (labels parsed). */
export function selectOptionsFromFlags(flags: ParsedFlags): SelectOptions {
  const labels = flags.labels as string[] | undefined;
  return {
    only: flags.only as string[] | undefined,
    labels: labels?.length ? parseLabelFlags(labels) : undefined,
    includeOptional: Boolean(flags['include-optional']),
  };
}

export async function installedSelection(ctx: CommandContext, flags: ParsedFlags): Promise<Artifact[]> {
  const opts = selectOptionsFromFlags(flags);
  if (opts.only?.length || opts.labels || opts.includeOptional) return selectArtifacts(ctx.manifest, opts);
  const record = await readInstallRecord(ctx.hostDir, ctx.manifest.path);
  if (record) {
    const installed = ctx.manifest.artifacts.filter((a) => record.artifacts[a.id] !== undefined);
    if (installed.length) return installed;
  }
  return selectArtifacts(ctx.manifest, {});
}
