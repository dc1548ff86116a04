/**
 * `modelmount gc`: remove store blobs and host artifact folders that nothing
 * references any more — not the manifest(s) given, not the install record of
 * the host folder, not the current Compose override — plus stale partial
 * downloads (untouched for a day) and leftover temp files. `--dry-run` lists
 * what would go and the bytes it would free; a real run holds the run lock.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ParsedFlags } from '../cli/args.ts';
import type { CommandSpec } from '../cli/command.ts';
import { parseComposeConfig } from '../compose/config.ts';
import { readInstallRecord } from '../install-record.ts';
import { defaultCacheDir } from '../layout.ts';
import { withRunLock } from '../lock.ts';
import { loadManifest } from '../manifest/load.ts';
import type { Manifest } from '../manifest/schema.ts';
import { applyGc, planGc, type GcItem, type GcKept, type GcPlan } from '../store/gc.ts';
import { formatBytes } from '../ui/format.ts';
import { DEFAULT_MANIFEST, type Io } from './context.ts';
import { runLockDirs, runLockOptions } from './run-lock.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, WAIT_FLAG } from './specs.ts';

export interface GcReport {
  command: 'gc';
  ok: boolean;
  dryRun: boolean;
  manifests: string[];
  stores: string[];
  hostDirs: string[];
  /** with --dry-run: what would be removed; else what was */
  removals: GcItem[];
  kept: { blobs: number; artifacts: GcKept[] };
  skipped: { path: string; reason: string }[];
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
  const rel = path.relative(from, to);
  if (rel === '') return '';
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return undefined;
  return rel.split(path.sep).join('/');
}

/** Bind sources of the override file of `m` (every service): what containers mount right now. */
async function overrideSources(m: Manifest): Promise<string[]> {
  if (!m.compose) return [];
  let text: string;
  try {
    text = await fs.readFile(m.compose.override, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const svc of parseComposeConfig(text).values()) {
    for (const mount of svc.mounts) if (mount.type === 'bind' && mount.source) out.push(path.resolve(path.dirname(m.compose.override), mount.source));
  }
  return out;
}

export async function gcInputs(flags: ParsedFlags, io: Io) {
  const given = (flags.manifest as string[] | undefined)?.length ? (flags.manifest as string[]) : [DEFAULT_MANIFEST];
  const manifests: Manifest[] = [];
  for (const m of [...new Set(given.map((g) => path.resolve(io.cwd, g)))]) manifests.push(await loadManifest(m, { env: io.env, cwd: io.cwd }));
  const stores = [
    ...new Set(flags['cache-dir'] ? [path.resolve(io.cwd, flags['cache-dir'] as string)] : manifests.map((m) => m.cacheDir ?? defaultCacheDir(io.env))),
  ];
  const hostDirs = [...new Set(flags['host-dir'] ? [path.resolve(io.cwd, flags['host-dir'] as string)] : manifests.map((m) => m.hostDir))];

  const keepBlobs = new Set<string>();
  for (const m of manifests) for (const a of m.artifacts) for (const f of a.files) keepBlobs.add(f.sha256);
  const mounted = (await Promise.all(manifests.map(overrideSources))).flat();
  const protectedHosts: { dir: string; protect: Map<string, string[]> }[] = [];
  for (const dir of hostDirs) {
    const protect = new Map<string, string[]>();
    const why = (id: string, reason: string) => {
      const list = protect.get(id) ?? [];
      if (!list.includes(reason)) list.push(reason);
      protect.set(id, list);
    };
    for (const m of manifests) for (const a of m.artifacts) why(a.id, `in ${toPosixRel(io.cwd, m.path) || m.path}`);
    const record = await readInstallRecord(dir);
    for (const [id, entry] of Object.entries(record?.artifacts ?? {})) {
      why(id, 'in the install record');
      for (const f of entry.files) keepBlobs.add(f.sha256);
    }
    for (const source of mounted) {
      const rel = toPosixRel(dir, source);
      if (rel !== undefined) why(rel, 'mounted by the Compose override');
    }
    protectedHosts.push({ dir, protect });
  }
  return { manifests, stores, hostDirs, keepBlobs, protectedHosts };
}

export async function runGc(flags: ParsedFlags, io: Io, signal?: AbortSignal): Promise<GcReport> {
  const started = Date.now();
  const inputs = await gcInputs(flags, io);
  const dryRun = Boolean(flags['dry-run']);
  const plan = async (): Promise<GcPlan> =>
    planGc({
      stores: (await Promise.all(inputs.stores.map(async (s) => ((await exists(s)) ? s : undefined)))).filter((s): s is string => Boolean(s)),
      hostDirs: inputs.protectedHosts,
      keepBlobs: inputs.keepBlobs,
    });
  const log = (line: string) => io.stderr.write(`${line}\n`);
  let result: { plan: GcPlan; removed: GcItem[] };
  if (dryRun) {
    const p = await plan();
    result = { plan: p, removed: p.removals };
  } else {
    // lock only folders that exist: gc never creates a store or a host folder
    const existing = (await Promise.all([...inputs.stores, ...inputs.hostDirs].map(async (d) => ((await exists(d)) ? d : undefined)))).filter(
      (d): d is string => Boolean(d),
    );
    result = await withRunLock(runLockDirs(io.env, existing), runLockOptions(flags, { log }, 'gc', signal), async (locked) => {
      const p = await plan();
      locked.throwIfAborted();
      return { plan: p, removed: await applyGc(p) };
    });
  }
  const { plan: p, removed } = result;
  return {
    command: 'gc',
    ok: true,
    dryRun,
    manifests: inputs.manifests.map((m) => m.path),
    stores: inputs.stores,
    hostDirs: inputs.hostDirs,
    removals: removed,
    kept: p.kept,
    skipped: p.skipped,
    totals: {
      items: removed.length,
      bytes: removed.reduce((s, r) => s + r.bytes, 0),
      bytesFreed: removed.length === p.removals.length ? p.bytesFreed : removed.reduce((s, r) => s + r.bytes, 0),
    },
    durationMs: Date.now() - started,
  };
}

const KIND_LABEL: Record<GcItem['kind'], string> = { blob: 'blob', artifact: 'artifact folder', partial: 'stale partial download', tmp: 'leftover temp file' };

export function formatGc(r: GcReport): string {
  const lines: string[] = [];
  const verb = r.dryRun ? 'Would remove' : 'Removed';
  if (r.removals.length === 0) lines.push('Nothing to remove: everything in the store and the host folder is referenced.');
  else {
    lines.push(`${verb}:`);
    for (const item of r.removals) {
      const what = item.kind === 'artifact' ? `${item.id} (${item.path})` : item.path;
      lines.push(`  ${KIND_LABEL[item.kind].padEnd(22)} ${formatBytes(item.bytes).padStart(10)}  ${what}`);
    }
    lines.push(
      `${r.dryRun ? 'Would free' : 'Freed'} ${formatBytes(r.totals.bytesFreed)} (${r.totals.items} item${r.totals.items === 1 ? '' : 's'}, ${formatBytes(r.totals.bytes)}; files still hardlinked from what stays free nothing).`,
    );
  }
  lines.push(`Kept ${r.kept.blobs} referenced blob${r.kept.blobs === 1 ? '' : 's'} and ${r.kept.artifacts.length} artifact folder${r.kept.artifacts.length === 1 ? '' : 's'}.`);
  for (const s of r.skipped) lines.push(`  ! ${s.path}: ${s.reason}`);
  if (r.dryRun && r.removals.length) lines.push('  → run without --dry-run to remove them.');
  return `${lines.join('\n')}\n`;
}

export const gcCommand: CommandSpec = {
  name: 'gc',
  summary: 'remove store blobs and host artifact folders no manifest, install record or Compose override references (--dry-run lists them)',
  usage: 'modelmount gc [--manifest PATH]... [--dry-run] [--no-wait] [--json]',
  flags: [
    {
      name: 'manifest',
      type: 'list',
      value: 'PATH',
      env: 'MODELS_MANIFEST',
      help: 'manifest(s) whose artifacts to keep; repeat or separate with commas (default manifests/models.yaml)',
    },
    { name: 'dry-run', type: 'boolean', help: 'list what would be removed and the bytes it would free; remove nothing' },
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'cache-dir'),
    WAIT_FLAG,
    JSON_FLAG,
  ],
  details: `Kept, always: every blob and artifact of the given manifests (selected or optional), everything the
host folder's install record lists, every folder the manifests' Compose override mounts.
Also removed: partial downloads untouched for a day, leftover temp files. Host folders without a
.modelmount/ folder inside are never touched.`,
  async run(flags, io, signal) {
    const report = await runGc(flags, io, signal);
    io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatGc(report));
    return 0;
  },
};
