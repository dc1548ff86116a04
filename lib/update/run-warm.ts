/**
 * Warm, what `modelmount warm` runs: the CI cache-warm step. Fills the content-addressed store
 * with the selection's blobs and verifies them — no host folder, no Compose, no
 * Docker, never a question. `--key` prints the cache key for the selection
 * (ids, paths, sizes, digests; not comments, labels or source URLs), so a CI
 * cache keyed by it is invalidated exactly when the bytes change.
 */
import type { ModelmountError } from '../errors.ts';
import type { Io } from '../io.ts';
import { mapLimit } from '../concurrency.ts';
import { withRunLock } from '../lock/run-lock.ts';
import { selectionDigest } from '../manifest/digest.ts';
import type { Artifact } from '../manifest/schema.ts';
import { planUpdate } from '../plan.ts';
import { loadRunContext, type ContextOptions } from '../run-context.ts';
import { runLockDirs, runLockOptions } from '../lock/run-lock-options.ts';
import { registerWarm } from '../store/registrations.ts';
import { checkFreeSpace } from '../store/space.ts';
import { Store } from '../store/store.ts';
import { formatBytes, formatFailure, listSome } from '../ui/format.ts';
import { pickRenderer } from '../ui/renderer.ts';
import type { FileStatus } from '../verify/verify-files.ts';
import { chooseSelection } from './choose-selection.ts';
import { tightenHeapGrowthFor } from './heap-growth.ts';
import { runInstallList, installTasks } from './install-tasks.ts';
import type { FileResult } from './installer.ts';
import type { SelectionOptions } from './installed-set.ts';
import { worstExit } from './report.ts';
import { resultErrors, transferTotals } from './results.ts';
import { StoreFiller } from './store-filler.ts';

export const CACHE_KEY_PREFIX = 'modelmount-v1-';

/** The CI cache key of a selection: stable across runs, machines, comments, labels and source URLs. */
export function cacheKeyOf(artifacts: readonly Artifact[]): string {
  return `${CACHE_KEY_PREFIX}${selectionDigest(artifacts)}`;
}

export interface WarmBlob {
  sha256: string;
  size: number;
  /** every selected file with these bytes, as "<artifact id>/<path>" */
  files: string[];
  /** present: verified in the store already; fetched: brought in by this run; failed: could not be */
  status: 'present' | 'fetched' | 'failed';
  source?: string;
  bytesTransferred: number;
  error?: Record<string, unknown>;
}

export interface WarmReport {
  command: 'warm';
  ok: boolean;
  key: string;
  manifest: string;
  cacheDir: string;
  selection: string[];
  blobs: WarmBlob[];
  totals: { blobs: number; bytes: number; present: number; fetched: number; failed: number; bytesTransferred: number; bytesResumed: number };
  errors: Record<string, unknown>[];
  durationMs: number;
}

export interface WarmOptions extends ContextOptions, SelectionOptions {
  /** re-hash every blob already in the store */
  full?: boolean;
  /** no progress on stderr */
  quiet?: boolean;
  wait?: boolean;
}

export async function runWarm(opts: WarmOptions, io: Io, signal: AbortSignal): Promise<{ exitCode: number; report: WarmReport }> {
  const started = Date.now();
  const ctx = { ...(await loadRunContext(opts, io, signal, 'store')), interactive: false }; // never asks: CI by nature
  const selection = await chooseSelection(ctx, opts);
  const { artifacts } = selection;
  const key = cacheKeyOf(artifacts);
  const sources = ctx.makeSources(selection.preferredSource);
  if (!ctx.json) ctx.log(`Warming ${ctx.cacheDir} for ${listSome(artifacts.map((a) => a.id))} from ${sources.map((s) => s.display).join(', ')}`);

  const lockDirs = runLockDirs(io.env, [{ dir: ctx.cacheDir, folder: 'cache' }]);
  return withRunLock(lockDirs, runLockOptions(opts, ctx, 'warm', signal), async (locked) => {
    const store = await Store.open(ctx.cacheDir, { locked: lockDirs.length > 0 });
    try {
      // What the store already holds, verified (state cache, or a hash where it cannot vouch; --full: always hash).
      // A restored CI cache has new inode numbers, so its blobs are hashed once here.
      const unique = new Map<string, Artifact['files'][number]>();
      for (const a of artifacts) for (const f of a.files) if (!unique.has(f.sha256)) unique.set(f.sha256, f);
      const storeHas = new Set<string>();
      await mapLimit([...unique.values()], ctx.jobs, async (f) => {
        if (await store.has(f, { full: Boolean(opts.full), signal: locked })) storeHas.add(f.sha256);
      });
      // The update plan with "host" = the store: a blob it holds is a skip, anything else a fetch or copy.
      const host = new Map<string, FileStatus>();
      for (const a of artifacts) for (const f of a.files) host.set(`${a.id}/${f.path}`, storeHas.has(f.sha256) ? 'ok' : 'missing');
      const plan = planUpdate({ artifacts, host, storeHas: new Set(), firstSourceKind: sources[0]?.kind ?? 'http' });
      if (plan.bytesToTransfer > 0) for (const s of sources) s.prepare?.(); // while the space is checked
      await checkFreeSpace([{ dir: ctx.cacheDir, folder: 'cache', bytes: plan.bytesToTransfer, what: 'the store' }]);

      const filler = new StoreFiller({ store, sources, jobs: ctx.jobs, signal: locked });
      const fetchOnly = {
        async installFile(pf: (typeof plan.files)[number], onProgress?: Parameters<StoreFiller['ensure']>[1]): Promise<FileResult> {
          const { artifactId, path: file, size, sha256, action } = pf;
          // object literals: V8 gives each `{ ...base, more }` a hidden class of its own (issue 15)
          if (action === 'skip') return { artifactId, path: file, size, sha256, action, status: 'ok', source: 'store', bytesTransferred: 0, resumedFrom: 0 };
          const r = await filler.ensure(pf, onProgress);
          onProgress?.({ done: pf.size, total: pf.size, source: r.source });
          return { artifactId, path: file, size, sha256, action, status: 'ok', source: r.source, bytesTransferred: r.bytesTransferred, resumedFrom: r.resumedFrom };
        },
      };
      const renderer = pickRenderer({ json: ctx.json, quiet: Boolean(opts.quiet), isTTY: io.isTTY, stderrIsTTY: io.stderrIsTTY, env: io.env });
      tightenHeapGrowthFor(plan);
      const tasks = installTasks(plan, fetchOnly, {
        progressIntervalMs: renderer === 'default' ? 100 : 10_000,
        verbs: { doing: 'Fetch', done: 'Fetched' },
      });
      const { results, broken } = await runInstallList(tasks, renderer, io);
      locked.throwIfAborted();
      if (broken) throw broken;

      // Then verify: every blob of the selection is in the store with the right bytes.
      const verified = new Set<string>();
      await mapLimit([...unique.values()], ctx.jobs, async (f) => {
        if (await store.has(f, { signal: locked })) verified.add(f.sha256);
      });

      const blobs: WarmBlob[] = [...unique.values()].map((f) => {
        const mine = results.filter((r) => r.sha256 === f.sha256);
        const failure = mine.find((r) => r.error)?.error;
        const fetched = mine.find((r) => r.action !== 'skip' && r.status === 'ok');
        const status: WarmBlob['status'] = !verified.has(f.sha256) || failure ? 'failed' : storeHas.has(f.sha256) ? 'present' : 'fetched';
        return {
          sha256: f.sha256,
          size: f.size,
          files: artifacts.flatMap((a) => a.files.filter((x) => x.sha256 === f.sha256).map((x) => `${a.id}/${x.path}`)),
          status,
          ...(fetched?.source && status === 'fetched' ? { source: fetched.source } : {}),
          bytesTransferred: mine.reduce((s, r) => s + r.bytesTransferred, 0),
          ...(failure ? { error: failure.toJSON() } : {}),
        };
      });
      const errors: Record<string, unknown>[] = resultErrors(results);
      for (const b of blobs) {
        const file = b.files[0] ?? b.sha256;
        if (b.status === 'failed' && !b.error) errors.push({ file, code: 'ENOTINSTORE', message: `${file} is not in the store after the run` });
      }
      const report: WarmReport = {
        command: 'warm',
        ok: errors.length === 0,
        key,
        manifest: ctx.manifest.path,
        cacheDir: ctx.cacheDir,
        selection: artifacts.map((a) => a.id),
        blobs,
        totals: {
          blobs: blobs.length,
          bytes: blobs.reduce((s, b) => s + b.size, 0),
          present: blobs.filter((b) => b.status === 'present').length,
          fetched: blobs.filter((b) => b.status === 'fetched').length,
          failed: blobs.filter((b) => b.status === 'failed').length,
          ...transferTotals(results),
        },
        errors,
        durationMs: Date.now() - started,
      };
      // the store learns that this manifest wants these blobs: gc (on a terminal too) keeps them while the manifest exists
      if (verified.size) await registerWarm(ctx.cacheDir, { hostDir: ctx.hostDir, manifestPath: ctx.manifest.path, blobs: [...verified] });
      const failures = results.map((r) => r.error).filter((e): e is ModelmountError => Boolean(e));
      return { exitCode: errors.length === 0 ? 0 : failures.length ? worstExit(failures) : 4, report };
    } finally {
      await store.save();
    }
  });
}

export function formatWarmSummary(r: WarmReport): string {
  const t = r.totals;
  const lines = [
    `${r.ok ? 'OK' : 'FAILED'}: ${t.blobs} blob${t.blobs === 1 ? '' : 's'} (${formatBytes(t.bytes)}) for ${r.selection.length} artifact${r.selection.length === 1 ? '' : 's'}: ${t.present} already in the store, ${t.fetched} fetched (${formatBytes(t.bytesTransferred)} transferred${t.bytesResumed ? `, ${formatBytes(t.bytesResumed)} resumed` : ''}), ${t.failed} failed; in ${(r.durationMs / 1000).toFixed(1)} s.`,
    `Store: ${r.cacheDir}`,
    `Cache key: ${r.key}`,
  ];
  return `${lines.join('\n')}\n${r.errors.map((e) => formatFailure(e, '  ')).join('')}`;
}
