/**
 * Which artifacts Compose, doctor and smoke act on: the ones named by flags,
 * else the ones the last update installed (install record), else the defaults.
 */
import type { ParsedFlags } from '../cli/args.ts';
import { readInstallRecord } from '../install-record.ts';
import { parseLabelFlags, selectArtifacts } from '../manifest/select.ts';
import type { Artifact } from '../manifest/schema.ts';
import type { CommandContext } from './context.ts';

export async function installedSelection(ctx: CommandContext, flags: ParsedFlags): Promise<Artifact[]> {
  const only = flags.only as string[] | undefined;
  const labels = (flags.labels as string[] | undefined)?.length ? parseLabelFlags(flags.labels as string[]) : undefined;
  if (only?.length || labels) return selectArtifacts(ctx.manifest, { only, labels });
  const record = await readInstallRecord(ctx.hostDir);
  if (record) {
    const installed = ctx.manifest.artifacts.filter((a) => record.artifacts[a.id] !== undefined);
    if (installed.length) return installed;
  }
  return selectArtifacts(ctx.manifest, {});
}
