/**
 * gc: remove what modelmount installed and nothing wants any more.
 * Host folder: files and artifact folders an install record says modelmount put
 * there that no live record (its manifest still exists), no given manifest and no
 * current Compose override wants; everything else is reported as not ours. Store:
 * blobs no given manifest, live install record or live store registration uses.
 * Plus stale partial downloads (untouched for a day) and leftover temp files.
 * On a terminal it asks first; without one, store blobs go only with --yes.
 * `--dry-run` lists what would go and the bytes it would free; a real run holds the run lock.
 */
import type { BigIntStats } from 'node:fs';
import { toDiskError } from '../disk-failure.ts';
import { CancelledError, DiskError } from '../errors.ts';
import { pathExists } from '../fs-atomic.ts';
import { isCI, type Io } from '../io.ts';
import { releasesDir } from '../layout.ts';
import { withRunLock } from '../lock/run-lock.ts';
import { releasesInUse } from '../releases/containers.ts';
import { planReleaseGc } from '../releases/gc.ts';
import type { ContextOptions } from '../run-context.ts';
import { runLockDirs, runLockOptions } from '../lock/run-lock-options.ts';
import { loadShell } from '../shell.ts';
import { applyGc } from '../store/gc/apply-gc.ts';
import { planGc } from '../store/gc/plan-gc.ts';
import { type GcItem, type GcPlan } from '../store/gc/types.ts';
import { deadAsides } from '../store/host-temps.ts';
import { forgetRegistration } from '../store/registrations.ts';
import { settleAside } from '../store/switch-aside.ts';
import * as prompts from '../ui/prompts.ts';
import { gcInputs, pruneRecords, type GcInputs } from './gc-inputs.ts';
import { formatGc, toReport, type GcReport } from './report.ts';

/** --manifest (several), --host-dir, --cache-dir, --dry-run, --yes, --json, --wait */
export interface GcOptions extends Pick<ContextOptions, 'hostDir' | 'cacheDir' | 'cacheDirOption'> {
  /** the manifests whose artifacts to keep, as given (default manifests/models.yaml) */
  manifests?: string[];
  dryRun?: boolean;
  /** remove without asking, store blobs included */
  yes?: boolean;
  json?: boolean;
  wait?: boolean;
}

export async function runGc(opts: GcOptions, io: Io, signal: AbortSignal): Promise<GcReport> {
  const started = Date.now();
  let inputs = await gcInputs(opts, io, signal);
  const dryRun = Boolean(opts.dryRun);
  const interactive = io.isTTY && !opts.yes && !opts.json && !isCI(io.env);
  let releases: GcReport['releases'] = { kept: [] };
  const plan = async (): Promise<GcPlan> => {
    const p = await planGc({
      stores: (await Promise.all(inputs.stores.map(async (s) => ((await pathExists(s)) ? s : undefined)))).filter((s): s is string => Boolean(s)),
      hostDirs: inputs.hosts,
      keepBlobs: inputs.keepBlobs,
      // store blobs go only when someone said yes: --yes, or the question on a terminal
      holdBlobs: !opts.yes && !interactive,
    });
    // release folders: never one in a keep window, mounted by the override or by any container
    const r = await planReleases(inputs, io);
    releases = r.report;
    const removals = [...p.removals, ...r.removals];
    const bytes = r.removals.reduce((s, x) => s + x.bytes, 0);
    // release files are hardlinks of host files and blobs: removing them frees nothing while those stay,
    // and moves their ctime (the verified-state caches follow it, so nothing is hashed again)
    return { ...p, removals, bytes: p.bytes + bytes, shared: [...p.shared, ...r.shared] };
  };
  const log = (line: string) => io.stderr.write(`${line}\n`);
  let result: { plan: GcPlan; removed: GcItem[] };
  let settled: GcReport['settled'] = [];
  if (dryRun) {
    settled = await settleAsides(inputs.hostDirs, true);
    const p = await plan();
    result = { plan: p, removed: p.removals };
  } else {
    let confirmed: Set<string> | undefined;
    if (interactive) {
      const preview = await plan();
      if (preview.removals.length) {
        const shown = await settleAsides(inputs.hostDirs, true);
        io.stderr.write(formatGc({ ...toReport(inputs, preview, preview.removals, true, started), releases, settled: shown }, true));
        const blobs = preview.removals.filter((r) => r.kind === 'blob').length;
        if (!(await prompts.confirmGc(preview.removals.length, preview.bytesFreed, blobs))) throw new CancelledError('declined');
        confirmed = new Set([...preview.removals.map((r) => r.path), ...shown.map((s) => s.folder)]);
      }
    }
    // lock only folders that exist: gc never creates a store or a host folder
    // (named as the store or the host folder: a lock's error hint names the option that moves it)
    const folders = [...inputs.stores.map((dir) => ({ dir, folder: 'cache' as const })), ...inputs.hostDirs.map((dir) => ({ dir, folder: 'host' as const }))];
    const existing = (await Promise.all(folders.map(async (f) => ((await pathExists(f.dir)) ? f : undefined)))).filter((f) => f !== undefined);
    result = await withRunLock(runLockDirs(io.env, existing), runLockOptions(opts, { log }, 'gc', signal), async (locked) => {
      // read the records, registrations and overrides again under the lock: what is removed is decided on
      // these reads alone (an update or compose run may have changed them while gc waited or asked)
      inputs = await gcInputs(opts, io, locked);
      // what ended updates left aside first, as the next sweep would: the plan then sees the host folder as it is
      settled = await settleAsides(inputs.hostDirs, false, confirmed);
      let p = await plan();
      if (confirmed) {
        // only what was asked about: anything new since the question stays for the next run
        const removals = p.removals.filter((r) => confirmed.has(r.path));
        if (removals.length !== p.removals.length) p = { ...p, removals, bytesFreed: removals.reduce((s, r) => s + r.bytes, 0) };
      }
      locked.throwIfAborted();
      const removed = await applyGc(p);
      await pruneRecords(inputs.hosts);
      for (const f of inputs.forgotten) await forgetRegistration(f.file);
      return { plan: p, removed };
    });
  }
  return { ...toReport(inputs, result.plan, result.removed, dryRun, started), releases, settled };
}

/**
 * The aside folders ended updates left in `hostDirs` (lib/store/switch-aside.ts), settled as the next
 * sweep would settle them; `dryRun`: what would become of each file; `only`: those folders only.
 */
async function settleAsides(hostDirs: string[], dryRun: boolean, only?: ReadonlySet<string>): Promise<GcReport['settled']> {
  const out: GcReport['settled'] = [];
  for (const hostDir of hostDirs) {
    for (const folder of await deadAsides(hostDir)) {
      if (only && !only.has(folder)) continue;
      try {
        out.push({ folder, files: await settleAside(hostDir, folder, dryRun) });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // settled meanwhile
        throw toDiskError(err, `settling ${folder}`, 'host') ?? new DiskError(`Could not settle ${folder}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
  return out;
}

async function planReleases(inputs: GcInputs, io: Io): Promise<{ removals: GcItem[]; shared: BigIntStats[]; report: GcReport['releases'] }> {
  const sh = (await loadShell())({ quiet: true, nothrow: true, timeout: '60s', env: io.env, cwd: io.cwd });
  const removals: GcItem[] = [];
  const shared: BigIntStats[] = [];
  const report: GcReport['releases'] = { kept: [] };
  for (const dir of inputs.hostDirs) {
    if (!(await pathExists(releasesDir(dir)))) continue;
    const inUse = await releasesInUse(dir, sh);
    const p = await planReleaseGc(dir, { overrideSources: inputs.mounted, inUse: { ...inUse, detail: inUse.reachable ? undefined : '`docker ps -a` failed' } });
    removals.push(...p.removals);
    shared.push(...p.shared);
    report.kept.push(...p.kept);
    if (p.held) (report.held ??= []).push(p.held);
  }
  return { removals, shared, report };
}
