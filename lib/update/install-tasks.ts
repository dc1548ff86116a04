/**
 * listr2 tasks for carrying out a plan: one line per artifact, its files in
 * parallel (bounded by the installer's transfer slots), progress as task output.
 */
import { Listr, ListrLogger, ProcessOutput, type ListrTask } from 'listr2';
import { mapLimit } from '../concurrency.ts';
import { DependencyError, ExitCode, ModelmountError } from '../errors.ts';
import { throwIfDependencyError } from '../import-dependency.ts';
import type { Plan, PlannedFile } from '../plan.ts';
import type { FetchProgress } from '../store/receive-bytes.ts';
import type { FileResult, Installer } from './installer.ts';
import { formatBytes, formatFailure, formatProgress, SpeedMeter } from '../ui/format.ts';

export interface InstallCtx {
  results: FileResult[];
  /**
   * modelmount's installation is broken (a dependency failed to load): every file would fail alike,
   * so no more start, and the caller throws this once in place of a report.
   */
  broken?: DependencyError;
}

export interface InstallTaskOptions {
  /** task title verbs: update installs into the host folder, warm only fetches into the store */
  verbs?: { doing: string; done: string };
  /** how often progress output may change: short on a TTY, long in CI logs */
  progressIntervalMs: number;
}

/**
 * Files of one artifact under way at once (the transfers themselves are bounded by the installer's
 * --jobs slots). Starting all of them at once kept a chain of promises, closures and progress
 * listeners per file waiting for a slot: 20,000 files, tens of MB (issue 15, RSS).
 */
const FILES_IN_FLIGHT = 64;

function groupByArtifact(files: PlannedFile[]): Map<string, PlannedFile[]> {
  const groups = new Map<string, PlannedFile[]>();
  for (const f of files) (groups.get(f.artifactId) ?? groups.set(f.artifactId, []).get(f.artifactId)!).push(f);
  return groups;
}

function failedResult(pf: PlannedFile, error: ModelmountError): FileResult {
  return { ...pf, status: 'failed', bytesTransferred: 0, resumedFrom: 0, error };
}

/**
 * Keep every failure attached to its file; an unexpected one is reported as an internal bug (exit 1).
 * What ends the whole run (an abort, a broken installation) is thrown.
 */
function asReported(err: unknown): ModelmountError {
  throwIfDependencyError(err);
  if (err instanceof ModelmountError) return err;
  const e = err as Error;
  if (e?.name === 'AbortError') throw err;
  return new ModelmountError('EINTERNAL', ExitCode.internal, `internal error: ${e?.message ?? String(err)}`, {
    hint: 'This is a bug in modelmount; please report it with the output above.',
    cause: err,
  });
}

/** what installTasks drives: update's Installer, or warm's fetch-only stand-in (no finishArtifact: nothing to switch) */
export type InstallDriver = Pick<Installer, 'installFile'> & Partial<Pick<Installer, 'finishArtifact' | 'skipResult'>>;

export function installTasks(plan: Plan, installer: InstallDriver, opts: InstallTaskOptions): ListrTask<InstallCtx>[] {
  const verbs = opts.verbs ?? { doing: 'Install', done: 'Installed' };
  return [...groupByArtifact(plan.files)].map(([artifactId, files]) => {
    const work = files.filter((f) => f.action !== 'skip');
    const total = work.reduce((s, f) => s + f.size, 0);
    return {
      title: work.length ? `${verbs.doing} ${artifactId} (${work.length} file${work.length > 1 ? 's' : ''}, ${formatBytes(total)})` : `Check ${artifactId}`,
      task: async (ctx, task) => {
        // 20,000 skipped files: their results at once (one await each cost a promise and a turn)
        for (const f of files) {
          if (f.action !== 'skip') continue;
          ctx.results.push(installer.skipResult ? installer.skipResult(f) : await installer.installFile(f));
        }
        if (!work.length) {
          task.title = `${artifactId}: up to date (${files.length} file${files.length > 1 ? 's' : ''} verified)`;
          return;
        }
        const done = new Map<string, number>();
        const meter = new SpeedMeter();
        let lastOutput = 0;
        let current = '';
        const report = (force = false): void => {
          const now = Date.now();
          if (!force && now - lastOutput < opts.progressIntervalMs) return;
          lastOutput = now;
          const sum = [...done.values()].reduce((a, b) => a + b, 0);
          task.output = `${formatProgress(sum, total, meter.add(sum, now))} ${current}`.trimEnd();
        };
        const onProgress = (pf: PlannedFile) => (p: FetchProgress) => {
          done.set(pf.path, p.done);
          current = pf.path;
          report();
        };
        const errors: ModelmountError[] = [];
        const sources = new Set<string>();
        const results: FileResult[] = [];
        let interrupted: unknown;
        await mapLimit(work, FILES_IN_FLIGHT, async (pf) => {
          if (interrupted !== undefined || ctx.broken) return; // stopped: start no more files
          try {
            const r = await installer.installFile(pf, onProgress(pf));
            if (r.source) sources.add(r.source);
            results.push(r);
          } catch (err) {
            try {
              const e = asReported(err);
              errors.push(e);
              results.push(failedResult(pf, e));
            } catch (abort) {
              if (abort instanceof DependencyError) ctx.broken ??= abort;
              else interrupted ??= abort;
            }
          }
        });
        // An artifact is installed whole or not at all: switch its files in only if every one is ready.
        const failure = await installer.finishArtifact?.(artifactId, errors.length === 0 && interrupted === undefined && !ctx.broken);
        if (interrupted !== undefined) throw interrupted;
        // the caller says why, once
        if (ctx.broken) return task.skip('stopped (see below)');
        // the failed switch, then each file left switched in (its previous version kept aside)
        for (const f of failure ? [failure, ...(failure.notPutBack ?? [])] : []) {
          const e = asReported(f.error);
          errors.push(e);
          const i = results.findIndex((r) => r.path === f.path);
          if (i >= 0) results[i] = failedResult(work.find((pf) => pf.path === f.path)!, e);
        }
        if (errors.length && installer.finishArtifact) {
          for (const [i, r] of results.entries()) {
            if (r.status !== 'ok') continue;
            const { method: _m, ...rest } = r;
            results[i] = { ...rest, status: 'not-installed' };
          }
        }
        ctx.results.push(...results);
        report(true);
        if (errors.length) throw errors[0];
        task.title = `${verbs.done} ${artifactId} (${work.length} file${work.length > 1 ? 's' : ''}, ${formatBytes(total)} from ${[...sources].join(', ')})`;
      },
    } satisfies ListrTask<InstallCtx>;
  });
}

/**
 * Run the tasks with the chosen renderer; their results, failures included (a task never throws),
 * and what stopped them all (`broken`), if anything did.
 * The silent renderer (--json, --quiet) draws nothing, so each failed file is then written to stderr
 * as every failure is ("✖ what happened / → what to do"): errors stay on stderr in every mode.
 */
export async function runInstallList(
  tasks: ListrTask<InstallCtx>[],
  renderer: 'default' | 'simple' | 'silent',
  out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<InstallCtx> {
  // progress is not a result: the task list draws on stderr, stdout keeps the results
  const processOutput = new ProcessOutput(out.stderr as NodeJS.WriteStream, out.stderr as NodeJS.WriteStream);
  const list = new Listr<InstallCtx>(tasks, {
    concurrent: true,
    exitOnError: false,
    registerSignalListeners: false,
    renderer,
    fallbackRenderer: 'simple',
    rendererOptions: { collapseErrors: false, logger: new ListrLogger({ processOutput }) },
    fallbackRendererOptions: { logger: new ListrLogger({ processOutput }) },
    ctx: { results: [] },
    // listr2 types its options by the renderer chosen at compile time; ours is chosen at run time
  } as never);
  const ctx = await list.run();
  if (renderer === 'silent') {
    for (const r of ctx.results) if (r.error) out.stderr.write(formatFailure({ message: `${r.artifactId}/${r.path}: ${r.error.message}`, hint: r.error.hint }));
  }
  return ctx;
}
