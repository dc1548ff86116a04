/**
 * The update service: manifest → selection → plan → store → host folder, under the run lock.
 * Every question is answered before the first byte moves. (The Compose override and the smoke
 * test after it: post-install.ts.)
 */
import path from 'node:path';
import { AllSourcesFailedError, CancelledError, type ModelmountError } from '../errors.ts';
import { pathExists } from '../fs-atomic.ts';
import { refuseLinksBelow } from '../fs-safe.ts';
import { nextInstallRecord, readInstallRecord, writeInstallRecord, type InstallRecord } from '../install-record.ts';
import { commandFor } from '../invocation.ts';
import type { Io } from '../io.ts';
import { legacyInstallRecordPath, metaDir } from '../layout.ts';
import { withRunLock } from '../lock/run-lock.ts';
import { isNoop, planUpdate, type Plan } from '../plan.ts';
import { recordReleaseSet } from '../releases/switch.ts';
import { loadRunContext, type ContextOptions, type RunContext, type StoreRunContext } from '../run-context.ts';
import { runLockDirs, runLockOptions } from '../lock/run-lock-options.ts';
import type { Source } from '../sources/types.ts';
import { sameJson } from '../same-json.ts';
import { registerInstall } from '../store/registrations.ts';
import { checkFreeSpace, sameFilesystem } from '../store/space.ts';
import { Store } from '../store/store.ts';
import { listSome } from '../ui/format.ts';
import * as prompts from '../ui/prompts.ts';
import { pickRenderer } from '../ui/renderer.ts';
import { StateCache } from '../verify/state-cache.ts';
import { chooseSelection, refreshInstalledSet, resolveInstalledSet, type InstalledSetOptions, type Selection } from './choose-selection.ts';
import { gatherState } from './gather.ts';
import { tightenHeapGrowthFor } from './heap-growth.ts';
import { runInstallList, installTasks } from './install-tasks.ts';
import { Installer } from './installer.ts';
import type { SelectionOptions } from './installed-set.ts';
import { formatPlan, planToJson } from './plan-output.ts';
import { summarise, worstExit, type UpdateReport } from './report.ts';

export interface UpdateOptions extends ContextOptions, SelectionOptions, InstalledSetOptions {
  offline?: boolean;
  /** print the plan before the work */
  verbose?: boolean;
  /** no progress on stderr */
  quiet?: boolean;
  /** false: fail at once when another run holds the lock */
  wait?: boolean;
}

export interface UpdateOutcome {
  exitCode: number;
  report: UpdateReport;
  plan: Plan;
  ctx: StoreRunContext;
  selection: Selection;
}

/**
 * Bring the host folder to the selection. Returns the report; throws only for errors before any change,
 * and for what stops the install midway (an interrupt, a broken installation of modelmount: the
 * artifacts switched in before it stay).
 * `refuse`: the caller's checks, run once the manifest is loaded, before any question or change.
 */
export async function runUpdate(opts: UpdateOptions, io: Io, signal: AbortSignal, refuse?: (ctx: RunContext) => Promise<void>): Promise<UpdateOutcome> {
  const ctx = await loadRunContext(opts, io, signal);
  await refuse?.(ctx);
  const chosen = await chooseSelection(ctx, opts);
  if (chosen.how === 'defaults') {
    const which = opts.includeOptional ? 'every artifact, optional ones included' : 'every non-optional artifact';
    ctx.log(`Selected ${listSome(chosen.artifacts.map((a) => a.id))} (${which}; choose with --only or --labels).`);
  }
  const selection = await resolveInstalledSet(ctx, opts, chosen, signal);
  const started = Date.now(); // after the questions: durations measure the work
  const sources = ctx.makeSources(selection.preferredSource);
  if (!ctx.json && !opts.offline) ctx.log(`Sources, in order: ${sources.map((s) => s.display).join(', ')}`);
  // one run at a time per store and host folder (a dry run changes nothing and does not wait)
  const lockDirs = opts.dryRun ? [] : runLockDirs(io.env, [{ dir: ctx.cacheDir, folder: 'cache' }, { dir: ctx.hostDir, folder: 'host' }]);
  return withRunLock(lockDirs, runLockOptions(opts, ctx, 'update', signal), (locked) =>
    installSelection(ctx, selection, sources, opts, io, started, locked, lockDirs.length > 0),
  );
}

/** Gather state, plan, install: the part of an update that runs under the lock. */
async function installSelection(
  ctx: StoreRunContext,
  selection: Selection,
  sources: Source[],
  opts: UpdateOptions,
  io: Io,
  started: number,
  signal: AbortSignal,
  storeLocked: boolean,
): Promise<UpdateOutcome> {
  selection = await refreshInstalledSet(ctx, opts, selection, signal);
  const dryRun = Boolean(opts.dryRun);
  const store = await Store.open(ctx.cacheDir, { readOnly: dryRun, locked: storeLocked });
  const hostCache = await StateCache.loadHost(ctx.hostDir, { signal });
  // refused before any byte moves: installs are prepared in <hostDir>/.modelmount/tmp
  await refuseLinksBelow(ctx.hostDir, path.join(metaDir(ctx.hostDir), 'tmp'));
  const state = await gatherState(ctx.hostDir, selection.artifacts, { store, hostCache, jobs: ctx.jobs, signal });
  const plan = planUpdate({
    artifacts: selection.artifacts,
    host: state.host,
    storeHas: state.storeHas,
    firstSourceKind: sources[0]?.kind ?? 'http',
    offline: Boolean(opts.offline),
  });
  if (dryRun) {
    // a dry run changes nothing, not even the caches
    const base = summarise(ctx, selection, [], started);
    const report: UpdateReport = {
      ...base,
      dryRun: true,
      plan: planToJson(plan),
      artifacts: base.artifacts.map((a) => ({ ...a, status: 'planned' as const })),
    };
    if (!ctx.json) io.stdout.write(formatPlan(plan));
    return { exitCode: 0, report, plan, ctx, selection };
  }

  if (opts.verbose && !ctx.json) ctx.log(formatPlan(plan, 'Plan:').trimEnd());

  if (opts.offline && plan.missingOffline.length) {
    const missing = plan.missingOffline.map((f) => `${f.artifactId}/${f.path}`);
    throw new AllSourcesFailedError(
      `${missing.length} file${missing.length > 1 ? 's' : ''} (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})`,
      [{ source: 'store (offline)', code: 'EOFFLINE', message: `not in the store ${ctx.cacheDir}: ${missing.join(', ')}` }],
      `Fill the store first with the same selection flags: \`${commandFor('warm', `--cache-dir ${ctx.cacheDir}`)}\` (where the sources are reachable), or run without --offline.`,
    );
  }

  if (plan.repairs.length) {
    if (ctx.interactive) {
      if (!(await prompts.confirmRepairs(plan.repairs))) throw new CancelledError('declined');
    } else {
      for (const r of plan.repairs) ctx.log(`Repairing ${r.artifactId}/${r.path}: ${r.reason}.`);
    }
  }

  if (isNoop(plan)) {
    await saveCaches(hostCache, store);
  } else {
    if (plan.bytesToTransfer > 0) for (const s of sources) s.prepare?.(); // while the space is checked and the tasks set up
    const sameDevice = await sameFilesystem(ctx.cacheDir, ctx.hostDir);
    await checkFreeSpace([
      { dir: ctx.cacheDir, folder: 'cache', bytes: plan.bytesToTransfer, what: 'the store' },
      { dir: ctx.hostDir, folder: 'host', bytes: sameDevice ? 0 : plan.bytesToInstall, what: 'the host folder (copies: different filesystem from the store)' },
    ]);
  }

  const installer = new Installer({ store, hostDir: ctx.hostDir, sources, jobs: ctx.jobs, hostCache, signal });
  const renderer = pickRenderer({ json: ctx.json, quiet: Boolean(opts.quiet), isTTY: io.isTTY, stderrIsTTY: io.stderrIsTTY, env: io.env });
  tightenHeapGrowthFor(plan);
  const { results, broken } = await runInstallList(installTasks(plan, installer, { progressIntervalMs: renderer === 'default' ? 100 : 10_000 }), renderer, io);
  await saveCaches(hostCache, store);
  signal?.throwIfAborted();
  if (broken) throw broken;
  const report = summarise(ctx, selection, results, started);
  if (report.ok) {
    await recordInstall(ctx, selection, report, signal);
    if (ctx.manifest.compose) {
      report.release = await recordReleaseSet(ctx.manifest, selection.artifacts, { hostDir: ctx.hostDir, hostCache, otherCaches: [(await store.cacheWithPaths()).cache] }, { signal });
      await saveCaches(hostCache, store);
    }
  }
  const failures = results.map((r) => r.error).filter((e): e is ModelmountError => Boolean(e));
  return { exitCode: worstExit(failures), report, plan, ctx, selection };
}

/**
 * The host folder's state cache, then the store's: one after the other, so one serialised cache
 * (4 MB of JSON for 20,000 files) is in memory at a time, not both (issue 15, peak RSS).
 */
async function saveCaches(hostCache: StateCache, store: Store): Promise<void> {
  await hostCache.save();
  await store.save();
}

async function recordInstall(ctx: StoreRunContext, selection: Selection, report: UpdateReport, signal: AbortSignal): Promise<void> {
  const previous = await readInstallRecord(ctx.hostDir, ctx.manifest.path, { signal });
  const now = new Date().toISOString();
  const wanted: InstallRecord['artifacts'] = {};
  // the installed set (what was installed before plus the selection, or with --prune exactly the selection):
  // that is what the override mounts; pruned folders stay (released) until `gc`
  for (const a of selection.artifacts) {
    const r = report.artifacts.find((x) => x.id === a.id);
    const prev = previous?.artifacts[a.id];
    const unchanged = r?.status === 'unchanged' && prev && sameJson(prev.files, a.files);
    wanted[a.id] = unchanged
      ? prev
      : { files: a.files, source: r?.sources.filter((s) => s !== 'store').join(', ') || prev?.source || 'store', installedAt: now };
  }
  const record = nextInstallRecord(previous, { version: 1, manifestPath: ctx.manifest.path, manifestDigest: ctx.manifest.digest, updatedAt: now, artifacts: wanted });
  const { updatedAt: _u, ...withoutTime } = record;
  const { updatedAt: _p, ...prevWithoutTime } = previous ?? ({} as InstallRecord);
  const legacy = await pathExists(legacyInstallRecordPath(ctx.hostDir));
  if (legacy || !sameJson(withoutTime, prevWithoutTime)) await writeInstallRecord(ctx.hostDir, record);
  // the store learns who uses which of its blobs (gc of a shared store keeps them)
  await registerInstall(ctx.cacheDir, {
    hostDir: ctx.hostDir,
    manifestPath: ctx.manifest.path,
    blobs: Object.values(wanted).flatMap((a) => a.files.map((f) => f.sha256)),
  });
}

