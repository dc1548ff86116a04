/** gc's report: what it removed (or, with --dry-run, would), what it kept and why; and its text for people. */
import type { GcInputs } from './gc-inputs.ts';
import type { GcItem, GcKept, GcPlan } from '../store/gc/types.ts';
import type { AsideFate } from '../store/switch-aside.ts';
import { formatBytes } from '../ui/format.ts';

export interface GcReport {
  command: 'gc';
  ok: boolean;
  dryRun: boolean;
  manifests: string[];
  stores: string[];
  hostDirs: string[];
  /** with --dry-run: what would be removed; else what was */
  removals: GcItem[];
  kept: {
    blobs: number;
    artifacts: GcKept[];
    /** installs registered in the store (host folder still there) whose blobs are kept */
    projects: { hostDir: string; manifest: string; blobs: number; warm?: true }[];
  };
  /** store registrations whose host folder or manifest is gone: forgotten (with --dry-run: would be) */
  forgotten: { hostDir: string; manifest: string; reason: string }[];
  /** unreferenced store blobs left because nobody said yes (no terminal and no --yes) */
  held: { blobs: number; bytes: number };
  /** entries of the host folder no install record says modelmount put there: never touched */
  notOurs: { path: string; reason: string }[];
  skipped: { path: string; reason: string }[];
  /** release folders kept, and why (current or kept set, mounted by the override or by a container) */
  releases: { kept: { path: string; why: string[] }[]; held?: string[] };
  /** the aside folders ended updates left (.modelmount/tmp/*.aside: killed mid-switch, or a backup that could not be kept), settled as the next sweep would (with --dry-run: would be) */
  settled: { folder: string; files: AsideFate[] }[];
  totals: { items: number; bytes: number; bytesFreed: number };
  durationMs: number;
}

export function toReport(inputs: GcInputs, p: GcPlan, removed: GcItem[], dryRun: boolean, started: number): Omit<GcReport, 'releases' | 'settled'> {
  return {
    command: 'gc',
    ok: true,
    dryRun,
    manifests: inputs.manifests.map((m) => m.path),
    stores: inputs.stores,
    hostDirs: inputs.hostDirs,
    removals: removed,
    kept: { ...p.kept, projects: inputs.projects },
    forgotten: inputs.forgotten.map(({ file: _f, ...f }) => f),
    held: p.held,
    notOurs: p.notOurs,
    skipped: p.skipped,
    totals: {
      items: removed.length,
      bytes: removed.reduce((s, r) => s + r.bytes, 0),
      bytesFreed: removed.length === p.removals.length ? p.bytesFreed : removed.reduce((s, r) => s + r.bytes, 0),
    },
    durationMs: Date.now() - started,
  };
}

const KIND_LABEL: Record<GcItem['kind'], string> = {
  blob: 'blob',
  artifact: 'artifact folder',
  file: 'artifact file',
  partial: 'stale partial download',
  tmp: 'leftover temp file',
  release: 'release folder',
};

/** The text report; `asking`: the list shown before the question on a terminal. */
export function formatGc(r: GcReport, asking = false): string {
  const lines: string[] = [];
  for (const s of r.settled) {
    lines.push(`${r.dryRun ? 'Would settle' : 'Settled'} what an ended update left aside in ${s.folder}:`);
    for (const f of s.files) lines.push(`  ${f.fate.padEnd(10)}${f.dest}: ${fateWords(f, r.dryRun)}`);
  }
  const verb = r.dryRun ? 'Would remove' : 'Removed';
  if (r.removals.length === 0) lines.push('Nothing to remove: everything modelmount installed is still wanted.');
  else {
    lines.push(`${verb}:`);
    for (const item of r.removals) {
      const what = item.kind === 'artifact' ? `${item.id} (${item.path})` : item.kind === 'file' ? `${item.id}/${item.file} (${item.path})` : item.path;
      lines.push(`  ${KIND_LABEL[item.kind].padEnd(22)} ${formatBytes(item.bytes).padStart(10)}  ${what}`);
    }
    lines.push(
      `${r.dryRun ? 'Would free' : 'Freed'} ${formatBytes(r.totals.bytesFreed)} (${r.totals.items} item${r.totals.items === 1 ? '' : 's'}, ${formatBytes(r.totals.bytes)}; files still hardlinked from what stays free nothing).`,
    );
  }
  lines.push(`Kept ${r.kept.blobs} referenced blob${r.kept.blobs === 1 ? '' : 's'} and ${r.kept.artifacts.length} artifact folder${r.kept.artifacts.length === 1 ? '' : 's'}.`);
  for (const p of r.kept.projects) {
    const why = p.warm ? 'warmed by `warm`; kept while the manifest exists' : `host folder ${p.hostDir}`;
    if (p.blobs) lines.push(`  Kept ${p.blobs} blob${p.blobs === 1 ? '' : 's'} for ${p.manifest} (${why}).`);
  }
  for (const f of r.forgotten) lines.push(`  ${r.dryRun ? 'Would forget' : 'Forgot'} the install of ${f.manifest} into ${f.hostDir}: ${f.reason}; its blobs are no longer kept for it.`);
  if (r.held.blobs) {
    lines.push(
      `  Left ${r.held.blobs} unreferenced blob${r.held.blobs === 1 ? '' : 's'} (${formatBytes(r.held.bytes)}) in the store: without a terminal, gc removes store blobs only when you pass --yes.`,
    );
  }
  if (r.releases.kept.length) lines.push(`Kept ${r.releases.kept.length} release folder${r.releases.kept.length === 1 ? '' : 's'} (current or kept set, or mounted).`);
  for (const k of r.releases.kept) if (k.why.some((w) => w.startsWith('mounted by a container'))) lines.push(`  kept ${k.path}: ${k.why.join('; ')}`);
  for (const h of r.releases.held ?? []) lines.push(`  ${h}.`);
  for (const n of r.notOurs) lines.push(`  not ours, left alone: ${n.path}`);
  for (const s of r.skipped) lines.push(`  ! ${s.path}: ${s.reason}`);
  if (r.dryRun && r.removals.length && !asking) lines.push('  → run without --dry-run to remove them.');
  return `${lines.join('\n')}\n`;
}

/** What became (or would become) of the previous version of `f.dest` an ended update left aside. */
function fateWords(f: AsideFate, dryRun: boolean): string {
  if (f.fate === 'put back') return `its previous version ${dryRun ? 'would go' : 'went'} back there (it was missing)`;
  if (f.fate === 'removed') return `its previous version ${dryRun ? 'would be' : 'was'} removed (a file is there again, as the finished update would have left it)`;
  if (f.fate === 'kept') return `its previous version, which cannot go back there, ${dryRun ? 'would be kept below .modelmount/kept' : `is kept at ${f.at}`}`;
  return `its previous version could not be kept and stays at ${f.at}, for the next gc or update`;
}
