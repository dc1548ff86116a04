/** The update's report: per artifact and file, the totals, the errors; its exit status and its summary for people. */
import { ExitCode, type ExitStatus, type ModelmountError } from '../errors.ts';
import type { ReleaseOutcome } from '../releases/switch.ts';
import type { StoreRunContext } from '../run-context.ts';
import { formatBytes, formatFailure } from '../ui/format.ts';
import type { Selection } from './choose-selection.ts';
import type { FileResult } from './installer.ts';
import type { planToJson } from './plan-output.ts';
import { resultErrors, transferTotals } from './results.ts';

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

type ReportedFile = UpdateReport['artifacts'][number]['files'][number];

/** Installer.skipResult's keys, in its order: what the fast path of reportedFile writes out */
const SKIP_KEYS = ['artifactId', 'path', 'size', 'sha256', 'action', 'status', 'bytesTransferred', 'resumedFrom'] as const;

/** `r` has exactly SKIP_KEYS, in that order: then the copy below gives what the generic one would (keys, order, values). */
function hasSkipShape(r: FileResult): boolean {
  const keys = Object.keys(r);
  return keys.length === SKIP_KEYS.length && keys.every((k, i) => k === SKIP_KEYS[i]);
}

/** A file's result as the report shows it: without its artifact id, its error as JSON (the same keys in the same order). */
export function reportedFile(r: FileResult): ReportedFile {
  if (r.action === 'skip' && hasSkipShape(r)) {
    // a skipped file (Installer.skipResult's shape), written out: rest and spread per file were most of the summary of 20,000 files
    return { path: r.path, size: r.size, sha256: r.sha256, action: r.action, status: r.status, bytesTransferred: r.bytesTransferred, resumedFrom: r.resumedFrom };
  }
  const { error, artifactId: _a, ...rest } = r;
  return { ...rest, ...(error ? { error: error.toJSON() } : {}) };
}

export function summarise(ctx: StoreRunContext, selection: Selection, results: FileResult[], started: number): UpdateReport {
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
      files: files.map(reportedFile),
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
