/** What `swarm`, `k8s` and `status --swarm` share: the selection they render for, "print, or write atomically to --output", the swarm status. */
import path from 'node:path';
import type { CommonFlag, SomeFlags } from '../cli/args.ts';
import { toDiskError } from '../disk-failure.ts';
import { ExitCode } from '../errors.ts';
import { formatSwarmStatus, swarmStatus } from '../fleet/swarm/status.ts';
import { writeFileAtomic } from '../fs-atomic.ts';
import { selectionDigest } from '../manifest/digest.ts';
import { checkRequire, selectArtifacts } from '../manifest/select.ts';
import { loadShell } from '../shell.ts';
import type { Artifact } from '../manifest/schema.ts';
import type { Io } from '../io.ts';
import type { RunContext } from '../run-context.ts';
import { selectOptionsOf } from '../update/installed-set.ts';
import { loadContext, selectionOptions } from './options.ts';
import type { JSON_FLAG, LocationFlag, SelectionFlag } from './specs.ts';

/** The flags the fleet commands share: selection, location, --json. */
type FleetFlags = SomeFlags<CommonFlag | SelectionFlag | LocationFlag | typeof JSON_FLAG>;

/** Flags, else the manifest's defaults: never this machine's own install record (the manager need not hold models). */
export function fleetSelection(ctx: RunContext, flags: FleetFlags): Artifact[] {
  const artifacts = selectArtifacts(ctx.manifest, selectOptionsOf(selectionOptions(flags)));
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
    throw toDiskError(err, `writing ${file}`, 'none') ?? err;
  }
  return file;
}

export async function swarmShell(io: Io) {
  return (await loadShell())({ quiet: true, nothrow: true, timeout: '120s', env: io.env, cwd: io.cwd });
}

/** `swarm status` (and `status --swarm`): per node, the set it holds and the tasks there. */
export async function printSwarmStatus(flags: FleetFlags, io: Io, signal: AbortSignal): Promise<number> {
  const ctx = await loadContext(flags, io, signal);
  const artifacts = fleetSelection(ctx, flags);
  const report = await swarmStatus(await swarmShell(io), selectionDigest(artifacts));
  io.stdout.write(ctx.json ? `${JSON.stringify(report, null, 2)}\n` : formatSwarmStatus(report));
  return ExitCode.ok;
}
