/**
 * `modelmount gc`: remove what modelmount installed and nothing wants any more.
 * Host folder: files and artifact folders an install record says modelmount put
 * there that no live record (its manifest still exists), no given manifest and no
 * current Compose override wants; everything else is reported as not ours. Store:
 * blobs no given manifest, live install record or live store registration uses.
 * Plus stale partial downloads (untouched for a day) and leftover temp files.
 * On a terminal it asks first; without one, store blobs go only with --yes.
 * `--dry-run` lists what would go and the bytes it would free; a real run holds the run lock.
 */
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ParsedFlags } from '../cli/args.ts';
import type { CommandSpec } from '../cli/command.ts';
import { parseComposeConfig } from '../compose/parse-config.ts';
import { readExistingOverride } from '../compose/write-override.ts';
import { CancelledError, ModelmountError } from '../errors.ts';
import { thereOrUnsure } from '../fs-atomic.ts';
import { listInstallRecords, rewriteInstallRecord, type InstallRecord, type StoredRecord } from '../install-record.ts';
import { blobPath, hostFilePath, releasesDir } from '../layout.ts';
import { loadShell } from '../shell.ts';
import { releasesInUse } from '../releases/containers.ts';
import { planReleaseGc } from '../releases/gc.ts';
import { withRunLock } from '../lock/run-lock.ts';
import { loadManifest } from '../manifest/load.ts';
import type { FileEntry, Manifest } from '../manifest/schema.ts';
import { applyGc } from '../store/gc/apply-gc.ts';
import { planGc } from '../store/gc/plan-gc.ts';
import type { GcHost, GcItem, GcKept, GcPlan } from '../store/gc/types.ts';
import { deadRegistration, forgetRegistration, listRegistrations } from '../store/registrations.ts';
import * as prompts from '../ui/prompts.ts';
import { formatBytes } from '../ui/format.ts';
import { DEFAULT_MANIFEST, isCI, resolveFolders, type Io } from './context.ts';
import { runLockDirs, runLockOptions } from './run-lock.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, WAIT_FLAG } from './specs.ts';
import { relativeInside } from '../path-inside.ts';

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
  totals: { items: number; bytes: number; bytesFreed: number };
  durationMs: number;
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

function toPosixRel(from: string, to: string): string | undefined {
  return relativeInside(from, to)?.split(path.sep).join('/');
}

/** Bind sources of the override file of `m` (every service): what containers mount right now. */
async function overrideSources(m: Manifest): Promise<string[]> {
  if (!m.compose) return [];
  // a FIFO there is refused (exit 7) instead of blocking gc: what it mounts cannot be known
  const text = await readExistingOverride(m.compose.override).catch((err: unknown) => {
    if (err instanceof ModelmountError) throw err;
    return undefined;
  });
  if (text === undefined) return [];
  const out: string[] = [];
  for (const svc of parseComposeConfig(text).values()) {
    for (const mount of svc.mounts) if (mount.type === 'bind' && mount.source) out.push(path.resolve(path.dirname(m.compose.override), mount.source));
  }
  return out;
}

/** What one host folder's install records say: what modelmount installed there, and what live records still want. */
async function hostOwnership(dir: string, show: (p: string) => string, keepBlobs: Set<string>) {
  const owned = new Map<string, Set<string>>();
  const wanted = new Map<string, { why: string[]; files: Set<string> }>();
  const records = await listInstallRecords(dir);
  const live = new Map<string, boolean>();
  for (const { file, record } of records) {
    live.set(file, await thereOrUnsure(record.manifestPath)); // a record is live while its manifest is there
    const own = (id: string, paths: string[]) => {
      const set = owned.get(id) ?? new Set<string>();
      for (const p of paths) set.add(p);
      owned.set(id, set);
    };
    for (const [id, a] of Object.entries(record.artifacts)) own(id, a.files.map((f) => f.path));
    for (const [id, r] of Object.entries(record.released ?? {})) own(id, r.files.map((f) => f.path));
    if (!live.get(file)) continue; // its manifest is gone: what only it wanted is no longer wanted
    for (const [id, a] of Object.entries(record.artifacts)) {
      addWanted(wanted, id, `in the install record of ${show(record.manifestPath)}`, a.files.map((f) => f.path));
      for (const f of a.files) keepBlobs.add(f.sha256);
    }
  }
  return { owned, wanted, records, live };
}

function addWanted(wanted: Map<string, { why: string[]; files: Set<string> }>, id: string, why: string, files: string[]): void {
  const entry = wanted.get(id) ?? { why: [], files: new Set<string>() };
  if (!entry.why.includes(why)) entry.why.push(why);
  for (const f of files) entry.files.add(f);
  wanted.set(id, entry);
}

export async function gcInputs(flags: ParsedFlags, io: Io) {
  const given = (flags.manifest as string[] | undefined)?.length ? (flags.manifest as string[]) : [DEFAULT_MANIFEST];
  const manifests: Manifest[] = [];
  for (const m of [...new Set(given.map((g) => path.resolve(io.cwd, g)))]) manifests.push(await loadManifest(m, { env: io.env, cwd: io.cwd }));
  // the same folder checks as every other command (a flag or variable cannot point gc at / or at the project)
  const folders = [];
  for (const m of manifests) folders.push(await resolveFolders(flags, io, m));
  const stores = [...new Set(folders.map((f) => f.cacheDir))];
  const hostDirs = [...new Set(folders.map((f) => f.hostDir))];
  const show = (p: string) => toPosixRel(io.cwd, p) || p;

  const keepBlobs = new Set<string>();
  for (const m of manifests) for (const a of m.artifacts) for (const f of a.files) keepBlobs.add(f.sha256);
  const mounted = (await Promise.all(manifests.map(overrideSources))).flat();
  const hosts: (GcHost & { records: StoredRecord[]; live: Map<string, boolean> })[] = [];
  for (const dir of hostDirs) {
    const { owned, wanted, records, live } = await hostOwnership(dir, show, keepBlobs);
    for (const m of manifests) for (const a of m.artifacts) addWanted(wanted, a.id, `in ${show(m.path)}`, a.files.map((f) => f.path));
    // the manifest's reason first, then the records'
    for (const [id, w] of wanted) wanted.set(id, { ...w, why: [...w.why.filter((x) => !x.startsWith('in the install record')), ...w.why.filter((x) => x.startsWith('in the install record'))] });
    const protect = new Map<string, string[]>();
    for (const source of mounted) {
      const rel = toPosixRel(dir, source);
      if (rel !== undefined) protect.set(rel, ['mounted by the Compose override']);
    }
    hosts.push({ dir, protect, wanted, owned, records, live });
  }
  // installs registered in the stores: a live one's blobs stay; one whose host folder is gone is forgotten
  const projects: GcReport['kept']['projects'] = [];
  const forgotten: (GcReport['forgotten'][number] & { file: string })[] = [];
  for (const store of stores) {
    for (const { file, registration: reg } of await listRegistrations(store)) {
      const dead = await deadRegistration(reg);
      if (dead) {
        forgotten.push({ hostDir: reg.hostDir, manifest: reg.manifestPath, reason: dead, file });
        continue;
      }
      let present = 0;
      for (const sha of reg.blobs) {
        keepBlobs.add(sha);
        if (await exists(blobPath(store, sha))) present++;
      }
      projects.push({ hostDir: reg.hostDir, manifest: reg.manifestPath, blobs: present, ...(reg.kind === 'warm' ? { warm: true as const } : {}) });
    }
  }
  return { manifests, stores, hostDirs, keepBlobs, hosts, projects, forgotten };
}

/** After a real run: drop from the records what gc removed; a record whose manifest is gone and that owns nothing left is deleted. */
async function pruneRecords(hosts: Awaited<ReturnType<typeof gcInputs>>['hosts']): Promise<void> {
  for (const { dir, records, live } of hosts) {
    for (const { file, record } of records) {
      const stillThere = async (id: string, files: FileEntry[]) => {
        const out: FileEntry[] = [];
        for (const f of files) if (await fs.lstat(hostFilePath(dir, id, f.path)).then(() => true, () => false)) out.push(f);
        return out;
      };
      const released: NonNullable<InstallRecord['released']> = {};
      for (const [id, r] of Object.entries(record.released ?? {})) {
        const files = await stillThere(id, r.files);
        if (files.length) released[id] = { ...r, files };
      }
      const artifacts: InstallRecord['artifacts'] = {};
      for (const [id, a] of Object.entries(record.artifacts)) {
        const files = live.get(file) ? a.files : await stillThere(id, a.files);
        if (files.length) artifacts[id] = files === a.files ? a : { ...a, files };
      }
      const next: InstallRecord = { ...record, artifacts, ...(Object.keys(released).length ? { released } : {}) };
      if (!Object.keys(released).length) delete next.released;
      if (JSON.stringify(next) === JSON.stringify(record)) continue;
      await rewriteInstallRecord(file, live.get(file) || Object.keys(artifacts).length || next.released ? next : undefined);
    }
  }
}

export async function runGc(flags: ParsedFlags, io: Io, signal?: AbortSignal): Promise<GcReport> {
  const started = Date.now();
  let inputs = await gcInputs(flags, io);
  const dryRun = Boolean(flags['dry-run']);
  const interactive = io.isTTY && !flags.yes && !flags.json && !isCI(io.env);
  let releases: GcReport['releases'] = { kept: [] };
  const plan = async (): Promise<GcPlan> => {
    const p = await planGc({
      stores: (await Promise.all(inputs.stores.map(async (s) => ((await exists(s)) ? s : undefined)))).filter((s): s is string => Boolean(s)),
      hostDirs: inputs.hosts,
      keepBlobs: inputs.keepBlobs,
      // store blobs go only when someone said yes: --yes, or the question on a terminal
      holdBlobs: !flags.yes && !interactive,
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
  if (dryRun) {
    const p = await plan();
    result = { plan: p, removed: p.removals };
  } else {
    let confirmed: Set<string> | undefined;
    if (interactive) {
      const preview = await plan();
      if (preview.removals.length) {
        io.stderr.write(formatGc({ ...toReport(inputs, preview, preview.removals, true, started), releases }, true));
        const blobs = preview.removals.filter((r) => r.kind === 'blob').length;
        if (!(await prompts.confirmGc(preview.removals.length, preview.bytesFreed, blobs))) throw new CancelledError('declined');
        confirmed = new Set(preview.removals.map((r) => r.path));
      }
    }
    // lock only folders that exist: gc never creates a store or a host folder
    const existing = (await Promise.all([...inputs.stores, ...inputs.hostDirs].map(async (d) => ((await exists(d)) ? d : undefined)))).filter(
      (d): d is string => Boolean(d),
    );
    result = await withRunLock(runLockDirs(io.env, existing), runLockOptions(flags, { log }, 'gc', signal), async (locked) => {
      // read the records and registrations again under the lock: an update may have finished meanwhile
      inputs = await gcInputs(flags, io);
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
  return { ...toReport(inputs, result.plan, result.removed, dryRun, started), releases };
}

async function planReleases(inputs: Awaited<ReturnType<typeof gcInputs>>, io: Io): Promise<{ removals: GcItem[]; shared: BigIntStats[]; report: GcReport['releases'] }> {
  const sh = (await loadShell())({ quiet: true, nothrow: true, timeout: '60s', env: io.env, cwd: io.cwd });
  const removals: GcItem[] = [];
  const shared: BigIntStats[] = [];
  const report: GcReport['releases'] = { kept: [] };
  const mounted = (await Promise.all(inputs.manifests.map(overrideSources))).flat();
  for (const dir of inputs.hostDirs) {
    if (!(await exists(releasesDir(dir)))) continue;
    const inUse = await releasesInUse(dir, sh);
    const p = await planReleaseGc(dir, { overrideSources: mounted, inUse: { ...inUse, detail: inUse.reachable ? undefined : '`docker ps -a` failed' } });
    removals.push(...p.removals);
    shared.push(...p.shared);
    report.kept.push(...p.kept);
    if (p.held) (report.held ??= []).push(p.held);
  }
  return { removals, shared, report };
}

function toReport(inputs: Awaited<ReturnType<typeof gcInputs>>, p: GcPlan, removed: GcItem[], dryRun: boolean, started: number): Omit<GcReport, 'releases'> {
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

export const gcCommand: CommandSpec = {
  name: 'gc',
  summary: 'remove what modelmount installed and nothing wants any more: host artifact folders and store blobs (--dry-run lists them)',
  usage: 'modelmount gc [--manifest PATH]... [--dry-run] [--yes] [--no-wait] [--json]',
  flags: [
    {
      name: 'manifest',
      type: 'list',
      value: 'PATH',
      env: 'MODELS_MANIFEST',
      help: 'manifest(s) whose artifacts to keep; repeat or separate with commas (default manifests/models.yaml)',
    },
    { name: 'dry-run', type: 'boolean', help: 'list what would be removed and the bytes it would free; remove nothing' },
    { name: 'yes', type: 'boolean', alias: 'y', env: 'MODELS_YES', help: 'remove without asking, store blobs included (without a terminal, store blobs go only with --yes)' },
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'cache-dir'),
    WAIT_FLAG,
    JSON_FLAG,
  ],
  details: `Removes only what an install record says modelmount installed and no live record (one whose
manifest file is still there) wants; anything else in the host folder is listed as "not ours, left
alone". Kept, always: every file of the given manifests' artifacts (selected or optional), every
folder the manifests' Compose override mounts, every blob an install registered in the store uses
(while its host folder and manifest exist; a registration whose host folder or manifest is gone is
forgotten).
On a terminal gc lists what it would remove and asks; without a terminal it removes store blobs
only with --yes (it says how many it left). Also removed: partial downloads untouched for a day,
leftover temp files. Host folders without a .modelmount/ folder inside are never touched.`,
  async run(flags, io, signal) {
    const report = await runGc(flags, io, signal);
    io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatGc(report));
    return 0;
  },
};
