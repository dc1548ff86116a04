/** What `swarm` and `k8s` share: the selection they render for, and "print, or write atomically to --output". */
import path from 'node:path';
import { toDiskError } from '../errors.ts';
import { writeFileAtomic } from '../fs-atomic.ts';
import { checkRequire, selectArtifacts } from '../manifest/select.ts';
import type { Artifact } from '../manifest/schema.ts';
import type { CommandContext, Io } from './context.ts';
import { selectOptionsFromFlags, type SelectionFlags } from './installed-selection.ts';

/** Flags, else the manifest's defaults: never this machine's own install record (the manager need not hold models). */
export function fleetSelection(ctx: CommandContext, flags: SelectionFlags): Artifact[] {
  const artifacts = selectArtifacts(ctx.manifest, selectOptionsFromFlags(flags));
  checkRequire(ctx.manifest, artifacts.map((a) => a.id));
  return artifacts;
}

/** Print `text`, or write it atomically to `out` (relative to the cwd) and return the absolute path. */
export async function printOrWrite(text: string, out: string | undefined, io: Io): Promise<string | undefined> {
  if (!out) {
    io.stdout.write(text);
    return undefined;
  }
  const file = path.resolve(io.cwd, out);
  try {
    await writeFileAtomic(file, text);
  } catch (err) {
    throw toDiskError(err, `writing ${file}`) ?? err;
  }
  return file;
}
