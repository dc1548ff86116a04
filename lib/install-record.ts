/**
 * Install records: what modelmount put in a host folder, one record per manifest
 * (`<hostDir>/.modelmount/installs/<manifest>-<hash>.json`), so several manifests and
 * projects can share one host folder. A record says which artifacts its manifest wants
 * now (`artifacts`: what the last successful update installed, from which source) and
 * which files it installed earlier and no longer wants (`released`): together, what is
 * provably modelmount's to remove. Read by compose (staleness), doctor, status and gc.
 *
 * Earlier versions kept a single `<hostDir>/.modelmount/installed.json` (the last
 * manifest's): it is still read as that manifest's record, and moved to its own place by
 * the next record written into the folder.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { toDiskError } from './disk-failure.ts';
import { installRecordPath, installRecordsDir, legacyInstallRecordPath, metaDir } from './layout.ts';
import { readJsonIfExists, writeFileAtomic, type OwnFileOptions } from './fs-atomic.ts';
import { refuseLinksBelow } from './fs-safe.ts';
import type { FileEntry } from './manifest/schema.ts';

export interface InstalledArtifact {
  files: FileEntry[];
  /** manifest name of the source the last fetched file came from; "store" when everything was already local */
  source: string;
  installedAt: string;
}

export interface ReleasedArtifact {
  /** files this manifest installed that it no longer lists (a deselected artifact, or a file the artifact dropped) */
  files: FileEntry[];
  releasedAt: string;
}

export interface InstallRecord {
  version: 1;
  manifestPath: string;
  manifestDigest: string;
  updatedAt: string;
  artifacts: Record<string, InstalledArtifact>;
  /** installed for this manifest earlier, no longer wanted by it, still on disk until `gc` */
  released?: Record<string, ReleasedArtifact>;
}

function isRecord(x: unknown): x is InstallRecord {
  const r = x as InstallRecord | undefined;
  return r?.version === 1 && typeof r.manifestPath === 'string' && typeof r.artifacts === 'object' && r.artifacts !== null;
}

/** Records live below <hostDir>/.modelmount: no link is followed from the host folder down (lib/fs-safe.ts). */
function ownFile(file: string): OwnFileOptions {
  const meta = path.basename(metaDir(''));
  let dir = path.dirname(file);
  while (path.basename(dir) !== meta && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return { realBelow: path.dirname(dir), folder: 'host' };
}

function writeRecordFile(file: string, record: InstallRecord): Promise<void> {
  return writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, 0o644, ownFile(file));
}

async function readRecordFile(file: string, signal?: AbortSignal): Promise<InstallRecord | undefined> {
  const rec = await readJsonIfExists<unknown>(file, { ...ownFile(file), signal });
  return isRecord(rec) ? rec : undefined;
}

/**
 * The record of `manifestPath` in `hostDir` (or the earlier versions' single record when it is that
 * manifest's). `signal`: the run's (Ctrl+C, a lost run lock) ends a read of a hung mount at once.
 */
export async function readInstallRecord(hostDir: string, manifestPath: string, opts: { signal?: AbortSignal } = {}): Promise<InstallRecord | undefined> {
  const own = await readRecordFile(installRecordPath(hostDir, manifestPath), opts.signal);
  if (own) return own;
  const legacy = await readRecordFile(legacyInstallRecordPath(hostDir), opts.signal);
  return legacy && path.resolve(legacy.manifestPath) === path.resolve(manifestPath) ? legacy : undefined;
}

export interface StoredRecord {
  file: string;
  record: InstallRecord;
}

/** Every install record in `hostDir`, the earlier versions' single one included while it is not migrated. */
export async function listInstallRecords(hostDir: string): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let names: string[] = [];
  try {
    await refuseLinksBelow(hostDir, installRecordsDir(hostDir));
    names = (await fs.readdir(installRecordsDir(hostDir))).filter((n) => n.endsWith('.json')).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw toDiskError(err, `reading ${installRecordsDir(hostDir)}`, 'host') ?? err;
  }
  for (const name of names) {
    const file = path.join(installRecordsDir(hostDir), name);
    const record = await readRecordFile(file);
    if (record) out.push({ file, record });
  }
  const legacyFile = legacyInstallRecordPath(hostDir);
  const legacy = await readRecordFile(legacyFile);
  if (legacy && !out.some((r) => path.resolve(r.record.manifestPath) === path.resolve(legacy.manifestPath))) out.push({ file: legacyFile, record: legacy });
  return out;
}

/** Write the record of `record.manifestPath`; an earlier versions' single record is moved to its own place first. */
export async function writeInstallRecord(hostDir: string, record: InstallRecord): Promise<void> {
  const legacyFile = legacyInstallRecordPath(hostDir);
  const legacy = await readRecordFile(legacyFile);
  if (legacy && path.resolve(legacy.manifestPath) !== path.resolve(record.manifestPath)) {
    const target = installRecordPath(hostDir, legacy.manifestPath);
    if (!(await readRecordFile(target))) await writeRecordFile(target, legacy);
  }
  await writeRecordFile(installRecordPath(hostDir, record.manifestPath), record);
  if (legacy) await fs.rm(legacyFile, { force: true });
}

/** Replace the record stored in `file` (gc's bookkeeping); undefined removes it. */
export async function rewriteInstallRecord(file: string, record: InstallRecord | undefined): Promise<void> {
  if (record) await writeRecordFile(file, record);
  else await fs.rm(file, { force: true });
}

/**
 * The record an update writes: `selected` as wanted now; whatever the previous record wanted or
 * had released and this one no longer lists (a deselected artifact, a file an artifact dropped) is
 * kept as released, so `gc` knows it is modelmount's to remove.
 */
export function nextInstallRecord(previous: InstallRecord | undefined, next: Omit<InstallRecord, 'released'>): InstallRecord {
  const released: Record<string, ReleasedArtifact> = {};
  const release = (id: string, files: FileEntry[], at: string) => {
    const keep = new Set((next.artifacts[id]?.files ?? []).map((f) => f.path));
    const gone = files.filter((f) => !keep.has(f.path));
    if (!gone.length) return;
    const entry = (released[id] ??= { files: [], releasedAt: at });
    for (const f of gone) if (!entry.files.some((e) => e.path === f.path)) entry.files.push(f);
  };
  for (const [id, r] of Object.entries(previous?.released ?? {})) release(id, r.files, r.releasedAt);
  for (const [id, a] of Object.entries(previous?.artifacts ?? {})) release(id, a.files, next.updatedAt);
  return Object.keys(released).length ? { ...next, released } : { ...next };
}
