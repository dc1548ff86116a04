/**
 * `modelmount update`: manifest → selection → plan → store → host folder
 * (→ Compose override → smoke, when configured). Every question is answered
 * before the first byte moves.
 */
import path from 'node:path';
import { AllSourcesFailedError, CancelledError, ExitCode, ModelmountError, UsageError, type ExitStatus } from '../errors.ts';
import { legacyInstallRecordPath, metaDir } from '../layout.ts';
import { checkRequire, filterByLabelChoice, planInstalledSet, selectArtifacts } from '../manifest/select.ts';
import { readInstalledIds, selectOptionsFromFlags } from './installed-selection.ts';
import { shellQuote } from '../shell.ts';
import type { Artifact } from '../manifest/schema.ts';
import { isNoop, planUpdate, type Plan } from '../plan.ts';
import { checkFreeSpace, sameFilesystem } from '../store/space.ts';
import { Store } from '../store/store.ts';
import { installList, installTasks } from '../tasks/install-tasks.ts';
import { formatBytes, formatFailure, listSome } from '../ui/format.ts';
import * as prompts from '../ui/prompts.ts';
import { pickRenderer } from '../ui/renderer.ts';
import { gatherState } from '../update/gather.ts';
import { Installer, type FileResult } from '../update/installer.ts';
import { nextInstallRecord, readInstallRecord, writeInstallRecord, type InstallRecord } from '../install-record.ts';
import { pathExists } from '../fs-atomic.ts';
import { registerInstall } from '../store/registrations.ts';
import { StateCache } from '../verify/state-cache.ts';
import { refuseLinksBelow } from '../fs-safe.ts';
import type { ParsedFlags } from '../cli/args.ts';
import { loadContext, type CommandContext, type Io } from './context.ts';
import { withRunLock } from '../lock/run-lock.ts';
import type { Source } from '../sources/types.ts';
import { runLockDirs, runLockOptions } from './run-lock.ts';
import { formatPlan, planToJson } from './plan-output.ts';
import { commandFor } from '../invocation.ts';
import { resultErrors, transferTotals } from '../update/results.ts';
import { recordReleaseSet, type ReleaseOutcome } from '../releases/switch.ts';

export interface Selection {
  /** chooseSelection: what flags, prompts or defaults chose; after runUpdate: the installed set the update brings about */
  artifacts: Artifact[];
  preferredSource?: string;
  /** how the selection was made, for the log line */
  how: 'flags' | 'prompts' | 'defaults';
  /** installed before, not chosen, and leaving the mounted set (--prune) */
  pruned?: string[];
  /** what flags, prompts or defaults chose (set by resolveInstalledSet) */
  chosen?: Artifact[];
}

/**
 * Flags answer questions; without flags, ask when interactive, else take the
 * safe defaults. This is what the user chose; runUpdate adds it to what is
 * installed (or, with --prune, makes it the installed set) and checks `require` on that.
 */
export async function chooseSelection(ctx: CommandContext, flags: ParsedFlags): Promise<Selection> {
  const { manifest } = ctx;
  const opts = selectOptionsFromFlags(flags);
  let preferredSource = flags.source as string | undefined;
  let artifacts: Artifact[];
  let how: Selection['how'] = opts.only?.length || opts.labels ? 'flags' : 'defaults';
  if (opts.only?.length || opts.labels || !ctx.interactive) {
    artifacts = selectArtifacts(manifest, opts);
  } else {
    how = 'prompts';
    // ask only about labels that tell the required artifacts apart (e.g. lang: ja / en)
    const chosenLabels: Record<string, string[]> = {};
    const offered = Object.fromEntries(prompts.choosableLabels(manifest.artifacts.filter((a) => !a.optional)));
    for (const [key, values] of Object.entries(offered)) {
      chosenLabels[key] = await prompts.askLabels(key, values);
    }
    // an optional artifact with a value the question did not offer stays for the optional question
    const candidates = filterByLabelChoice(manifest.artifacts, chosenLabels, offered);
    const optional = candidates.filter((a) => a.optional);
    // --include-optional / --no-include-optional answer the question
    const extra = flags.given.has('include-optional')
      ? flags['include-optional'] ? optional.map((a) => a.id) : []
      : optional.length ? await prompts.askOptionalArtifacts(optional) : [];
    artifacts = candidates.filter((a) => !a.optional || extra.includes(a.id));
  }
  if (!preferredSource && ctx.interactive && manifest.sources.length > 1) {
    preferredSource = await prompts.askSource(manifest.sources);
  }
  return { artifacts, preferredSource, how };
}

/**
 * The installed set this update brings about: the choice added to what is
 * installed, or with --prune exactly the choice. Refuses (exit 2) a set that
 * breaks a `require` rule; removing an installed artifact needs --yes or a
 * confirmation on a terminal. Everything here happens before any byte moves.
 */
export async function resolveInstalledSet(ctx: CommandContext, flags: ParsedFlags, chosen: Selection): Promise<Selection> {
  const prune = Boolean(flags.prune);
  const set = planInstalledSet(ctx.manifest, await readInstalledIds(ctx), chosen.artifacts, { prune });
  checkRequire(ctx.manifest, set.artifacts.map((a) => a.id));
  if (set.kept.length) {
    ctx.log(`Keeping the installed ${listSome(set.kept)} (still mounted; --prune makes the installed set exactly the selection).`);
  }
  if (set.removed.length) {
    const removed = set.removed.join(', ');
    const after = 'the Compose override stops mounting them; their folders stay on the host until `gc`';
    if (flags['dry-run']) ctx.log(`--prune would remove ${removed} from the mounted set: ${after}.`);
    else if (flags.yes) ctx.log(`Removing ${removed} from the mounted set (--prune --yes): ${after}.`);
    else if (ctx.interactive) {
      if (!(await prompts.confirmPrune(set.removed))) throw new CancelledError('declined');
    } else {
      throw new UsageError(`--prune would remove ${removed} from the mounted set: that needs a confirmation.`, {
        code: 'EPRUNECONFIRM',
        hint: `Answer the question on a terminal, or confirm with --yes: ${pruneCommand(flags, chosen.artifacts)}`,
        data: { removed: set.removed },
      });
    }
  }
  return { ...chosen, artifacts: set.artifacts, pruned: set.removed, chosen: chosen.artifacts };
}

/**
 * Under the run lock: the installed set again, from the install record as it is
 * now. A run that waited for the lock adds to what the run before it installed
 * (so nothing drops out of the override); --prune removes only what was confirmed.
 */
async function refreshInstalledSet(ctx: CommandContext, flags: ParsedFlags, selection: Selection): Promise<Selection> {
  if (!selection.chosen) return selection;
  const set = planInstalledSet(ctx.manifest, await readInstalledIds(ctx), selection.chosen, { prune: Boolean(flags.prune) });
  const confirmed = new Set(selection.pruned ?? []);
  const unconfirmed = set.removed.filter((id) => !confirmed.has(id));
  if (unconfirmed.length && flags.yes) ctx.log(`Removing ${listSome(unconfirmed)} too (installed by another run while this one waited; --prune --yes).`);
  else if (unconfirmed.length) {
    throw new UsageError(`Another run installed ${unconfirmed.join(', ')} while this one waited; --prune would remove ${unconfirmed.length === 1 ? 'it' : 'them'} unconfirmed.`, {
      code: 'EPRUNECONFIRM',
      hint: 'Run the same command again: it asks (or needs --yes) for what it removes now.',
      data: { removed: set.removed },
    });
  }
  const before = new Set(selection.artifacts.map((a) => a.id));
  const meanwhile = set.artifacts.filter((a) => !before.has(a.id)).map((a) => a.id);
  if (meanwhile.length) ctx.log(`Keeping ${listSome(meanwhile)} too (installed by another run while this one waited).`);
  return { ...selection, artifacts: set.artifacts, pruned: set.removed };
}

/** The command that confirms a prune non-interactively: the same choice, by id, with --yes. */
function pruneCommand(flags: ParsedFlags, chosen: readonly Artifact[]): string {
  const locations = (['manifest', 'host-dir', 'cache-dir'] as const).flatMap((f) => (typeof flags[f] === 'string' ? [`--${f}`, flags[f] as string] : []));
  const args = [...locations, '--prune', '--only', chosen.map((a) => a.id).join(','), '--yes'];
  return commandFor('update', args.map(shellQuote).join(' '));
}

export interface UpdateReport {
  command: 'update';
  ok: boolean;
  dryRun: boolean;
  manifest: string;
  manifestDigest: string;
  hostDir: string;
  cacheDir: string;
  /** the installed set after the update (what the override mounts) */
  selection: string[];
  /** removed from the installed set by --prune */
  pruned: string[];
  plan?: ReturnType<typeof planToJson>;
  artifacts: {
    id: string;
    status: 'installed' | 'unchanged' | 'failed' | 'planned';
    sources: string[];
    bytes: number;
    files: (Omit<FileResult, 'error' | 'artifactId'> & { error?: Record<string, unknown> })[];
  }[];
  /** notInstalled: files that were fine but not installed because another file of their artifact failed */
  totals: { files: number; installed: number; unchanged: number; failed: number; notInstalled: number; bytesTransferred: number; bytesResumed: number };
  errors: Record<string, unknown>[];
  durationMs: number;
  /** the release set the override mounts after this update (manifests with a `compose:` section) */
  release?: ReleaseOutcome;
}

function summarise(ctx: CommandContext, selection: Selection, results: FileResult[], started: number): UpdateReport {
  // by artifact and path: a filter over every result for each file was quadratic (20,000 files)
  const byFile = new Map<string, FileResult[]>();
  for (const r of results) {
    const k = `${r.artifactId}\0${r.path}`;
    const list = byFile.get(k);
    if (list) list.push(r);
    else byFile.set(k, [r]);
  }
  const artifacts = selection.artifacts.map((a) => {
    // manifest order, whatever order the transfers finished in
    const files = a.files.flatMap((f) => byFile.get(`${a.id}\0${f.path}`) ?? []);
    const failed = files.some((f) => f.status === 'failed');
    const changed = files.some((f) => f.action !== 'skip');
    return {
      id: a.id,
      status: failed ? ('failed' as const) : changed ? ('installed' as const) : ('unchanged' as const),
      sources: [...new Set(files.map((f) => f.source).filter((s): s is string => Boolean(s)))],
      bytes: a.files.reduce((s, f) => s + f.size, 0),
      files: files.map(({ error, artifactId: _a, ...rest }) => ({ ...rest, ...(error ? { error: error.toJSON() } : {}) })),
    };
  });
  const errors = resultErrors(results);
  return {
    command: 'update',
    ok: errors.length === 0,
    dryRun: false,
    manifest: ctx.manifest.path,
    manifestDigest: ctx.manifest.digest,
    hostDir: ctx.hostDir,
    cacheDir: ctx.cacheDir,
    selection: selection.artifacts.map((a) => a.id),
    pruned: selection.pruned ?? [],
    artifacts,
    totals: {
      files: results.length,
      installed: results.filter((r) => r.status === 'ok' && r.action !== 'skip').length,
      unchanged: results.filter((r) => r.action === 'skip').length,
      failed: results.filter((r) => r.status === 'failed').length,
      notInstalled: results.filter((r) => r.status === 'not-installed').length,
      ...transferTotals(results),
    },
    errors,
    durationMs: Date.now() - started,
  };
}

/** The exit status for a set of failures: disk beats integrity beats sources. */
export function worstExit(errors: ModelmountError[]): ExitStatus {
  const order: ExitStatus[] = [ExitCode.internal, ExitCode.disk, ExitCode.integrity, ExitCode.sources, ExitCode.usage];
  for (const code of order) if (errors.some((e) => e.exitCode === code)) return code;
  return errors[0]?.exitCode ?? ExitCode.ok;
}

export interface UpdateOutcome {
  exitCode: number;
  report: UpdateReport;
  plan: Plan;
  ctx: CommandContext;
  selection: Selection;
}

/** Bring the host folder to the selection. Returns the report; throws only for errors before any change. */
export async function runUpdate(flags: ParsedFlags, io: Io, signal?: AbortSignal): Promise<UpdateOutcome> {
  const ctx = await loadContext(flags, io);
  const chosen = await chooseSelection(ctx, flags);
  if (chosen.how === 'defaults') {
    const which = flags['include-optional'] ? 'every artifact, optional ones included' : 'every non-optional artifact';
    ctx.log(`Selected ${listSome(chosen.artifacts.map((a) => a.id))} (${which}; choose with --only or --labels).`);
  }
  const selection = await resolveInstalledSet(ctx, flags, chosen);
  const started = Date.now(); // after the questions: durations measure the work
  const sources = ctx.makeSources(selection.preferredSource);
  if (!ctx.json && !flags.offline) ctx.log(`Sources, in order: ${sources.map((s) => s.display).join(', ')}`);
  // one run at a time per store and host folder (a dry run changes nothing and does not wait)
  const lockDirs = flags['dry-run'] ? [] : runLockDirs(io.env, [ctx.cacheDir, ctx.hostDir]);
  return withRunLock(lockDirs, runLockOptions(flags, ctx, 'update', signal), (locked) =>
    installSelection(ctx, selection, sources, flags, io, started, locked),
  );
}

/** Gather state, plan, install: the part of an update that runs under the lock. */
async function installSelection(
  ctx: CommandContext,
  selection: Selection,
  sources: Source[],
  flags: ParsedFlags,
  io: Io,
  started: number,
  signal: AbortSignal,
): Promise<UpdateOutcome> {
  selection = await refreshInstalledSet(ctx, flags, selection);
  const dryRun = Boolean(flags['dry-run']);
  const store = await Store.open(ctx.cacheDir, { readOnly: dryRun });
  const hostCache = await StateCache.loadHost(ctx.hostDir);
  // refused before any byte moves: installs are prepared in <hostDir>/.modelmount/tmp
  await refuseLinksBelow(ctx.hostDir, path.join(metaDir(ctx.hostDir), 'tmp'));
  const state = await gatherState(ctx.hostDir, selection.artifacts, { store, hostCache, jobs: ctx.jobs, signal });
  const plan = planUpdate({
    artifacts: selection.artifacts,
    host: state.host,
    storeHas: state.storeHas,
    firstSourceKind: sources[0]?.kind ?? 'http',
    offline: Boolean(flags.offline),
  });
  const base = summarise(ctx, selection, [], started);

  if (dryRun) {
    // a dry run changes nothing, not even the caches
    const report: UpdateReport = {
      ...base,
      dryRun: true,
      plan: planToJson(plan),
      artifacts: base.artifacts.map((a) => ({ ...a, status: 'planned' as const })),
    };
    if (!ctx.json) io.stdout.write(formatPlan(plan));
    return { exitCode: 0, report, plan, ctx, selection };
  }

  if (flags.verbose && !ctx.json) ctx.log(formatPlan(plan, 'Plan:').trimEnd());

  if (flags.offline && plan.missingOffline.length) {
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
    await Promise.all([hostCache.save(), store.save()]);
  } else {
    if (plan.bytesToTransfer > 0) for (const s of sources) s.prepare?.(); // while the space is checked and the tasks set up
    const sameDevice = await sameFilesystem(ctx.cacheDir, ctx.hostDir);
    await checkFreeSpace([
      { dir: ctx.cacheDir, bytes: plan.bytesToTransfer, what: 'the store' },
      { dir: ctx.hostDir, bytes: sameDevice ? 0 : plan.bytesToInstall, what: 'the host folder (copies: different filesystem from the store)' },
    ]);
  }

  const installer = new Installer({ store, hostDir: ctx.hostDir, sources, jobs: ctx.jobs, hostCache, signal });
  const renderer = pickRenderer({ json: ctx.json, quiet: Boolean(flags.quiet), isTTY: io.isTTY, stderrIsTTY: io.stderrIsTTY, env: io.env });
  const list = installList(installTasks(plan, installer, { progressIntervalMs: renderer === 'default' ? 100 : 10_000 }), renderer, io);
  // exitOnError: false — run() collects each task's error in ctx.results and never throws
  const { results } = await list.run();
  await Promise.all([hostCache.save(), store.save()]);
  signal?.throwIfAborted();
  const report = summarise(ctx, selection, results, started);
  if (report.ok) {
    await recordInstall(ctx, selection, report);
    if (ctx.manifest.compose) {
      report.release = await recordReleaseSet(ctx.manifest, selection.artifacts, { hostDir: ctx.hostDir, hostCache, otherCaches: [store.cacheWithPaths().cache] });
      await Promise.all([hostCache.save(), store.save()]);
    }
  }
  const failures = results.map((r) => r.error).filter((e): e is ModelmountError => Boolean(e));
  return { exitCode: worstExit(failures), report, plan, ctx, selection };
}

async function recordInstall(ctx: CommandContext, selection: Selection, report: UpdateReport): Promise<void> {
  const previous = await readInstallRecord(ctx.hostDir, ctx.manifest.path);
  const now = new Date().toISOString();
  const wanted: InstallRecord['artifacts'] = {};
  // the installed set (what was installed before plus the selection, or with --prune exactly the selection):
  // that is what the override mounts; pruned folders stay (released) until `gc`
  for (const a of selection.artifacts) {
    const r = report.artifacts.find((x) => x.id === a.id);
    const prev = previous?.artifacts[a.id];
    const unchanged = r?.status === 'unchanged' && prev && JSON.stringify(prev.files) === JSON.stringify(a.files);
    wanted[a.id] = unchanged
      ? prev
      : { files: a.files, source: r?.sources.filter((s) => s !== 'store').join(', ') || prev?.source || 'store', installedAt: now };
  }
  const record = nextInstallRecord(previous, { version: 1, manifestPath: ctx.manifest.path, manifestDigest: ctx.manifest.digest, updatedAt: now, artifacts: wanted });
  const { updatedAt: _u, ...withoutTime } = record;
  const { updatedAt: _p, ...prevWithoutTime } = previous ?? ({} as InstallRecord);
  const legacy = await pathExists(legacyInstallRecordPath(ctx.hostDir));
  if (legacy || JSON.stringify(withoutTime) !== JSON.stringify(prevWithoutTime)) await writeInstallRecord(ctx.hostDir, record);
  // the store learns who uses which of its blobs (gc of a shared store keeps them)
  await registerInstall(ctx.cacheDir, {
    hostDir: ctx.hostDir,
    manifestPath: ctx.manifest.path,
    blobs: Object.values(wanted).flatMap((a) => a.files.map((f) => f.sha256)),
  });
}

export function formatUpdateSummary(report: UpdateReport): string {
  const t = report.totals;
  const notInstalled = t.notInstalled ? `, ${t.notInstalled} not installed` : '';
  const lines = [
    `${report.ok ? 'OK' : 'FAILED'}: ${t.installed} file${t.installed === 1 ? '' : 's'} installed, ${t.unchanged} unchanged, ${t.failed} failed${notInstalled}; ${formatBytes(t.bytesTransferred)} transferred${t.bytesResumed ? `, ${formatBytes(t.bytesResumed)} resumed` : ''} in ${(report.durationMs / 1000).toFixed(1)} s.`,
    // an artifact is switched in whole or not at all: say which ones were not, and that their previous files stay
    ...report.artifacts
      .filter((a) => a.status === 'failed')
      .map((a) => `${a.id}: nothing installed (an artifact is installed whole or not at all); what was there before is unchanged.`),
    `Host folder: ${report.hostDir}`,
    ...(report.release?.changed ? [`New release set ${report.release.set.slice(0, 12)}${report.release.previous ? ` (was ${report.release.previous.slice(0, 12)})` : ''}: ${report.release.built.length ? `made ${report.release.built.join(', ')}` : 'every release was already there'}.`] : []),
  ];
  return `${lines.join('\n')}\n${report.errors.map((e) => formatFailure(e, '  ')).join('')}`;
}
