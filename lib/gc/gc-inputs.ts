/**
 * What gc may remove, read from disk: the given manifests (and their folders), what each host
 * folder's install records say modelmount put there and what live records still want, what the
 * Compose overrides mount (`mounted`: read once here, for the host folders and the release folders
 * alike), and the installs registered in the stores.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseComposeConfig } from '../compose/parse-config.ts';
import { readExistingOverride } from '../compose/write-override.ts';
import { ModelmountError } from '../errors.ts';
import { pathExists, thereOrUnsure } from '../fs-atomic.ts';
import { listInstallRecords, rewriteInstallRecord, type InstallRecord, type StoredRecord } from '../install-record.ts';
import type { Io } from '../io.ts';
import { blobPath, hostFilePath } from '../layout.ts';
import { loadManifest } from '../manifest/load.ts';
import type { FileEntry, Manifest } from '../manifest/schema.ts';
import { relativeInside } from '../path-inside.ts';
import { resolveFolders } from '../run-context.ts';
import type { GcHost } from '../store/gc/types.ts';
import { deadRegistration, listRegistrations } from '../store/registrations.ts';
import type { GcOptions } from './run-gc.ts';
import type { GcReport } from './report.ts';
import { DEFAULT_MANIFEST } from '../defaults.ts';

function toPosixRel(from: string, to: string): string | undefined {
  return relativeInside(from, to)?.split(path.sep).join('/');
}

/** Bind sources of the override file of `m` (every service): what containers mount right now. */
export async function overrideSources(m: Manifest, signal: AbortSignal): Promise<string[]> {
  if (!m.compose) return [];
  // a FIFO there is refused (exit 7) instead of blocking gc: what it mounts cannot be known
  const text = await readExistingOverride(m.compose.override, { signal }).catch((err: unknown) => {
    if (err instanceof ModelmountError || signal.aborted) throw err;
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

export type GcInputs = Awaited<ReturnType<typeof gcInputs>>;

export async function gcInputs(opts: GcOptions, io: Io, signal: AbortSignal) {
  const given = opts.manifests?.length ? opts.manifests : [DEFAULT_MANIFEST];
  const manifests: Manifest[] = [];
  for (const m of [...new Set(given.map((g) => path.resolve(io.cwd, g)))]) manifests.push(await loadManifest(m, { env: io.env, cwd: io.cwd, signal }));
  // the same folder checks as every other command (a flag or variable cannot point gc at / or at the project)
  const folders = [];
  for (const m of manifests) folders.push(await resolveFolders(opts, io, m, signal));
  const stores = [...new Set(folders.map((f) => f.cacheDir))];
  const hostDirs = [...new Set(folders.map((f) => f.hostDir))];
  const show = (p: string) => toPosixRel(io.cwd, p) || p;

  const keepBlobs = new Set<string>();
  for (const m of manifests) for (const a of m.artifacts) for (const f of a.files) keepBlobs.add(f.sha256);
  const mounted = (await Promise.all(manifests.map((m) => overrideSources(m, signal)))).flat();
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
        if (await pathExists(blobPath(store, sha))) present++;
      }
      projects.push({ hostDir: reg.hostDir, manifest: reg.manifestPath, blobs: present, ...(reg.kind === 'warm' ? { warm: true as const } : {}) });
    }
  }
  return { manifests, stores, hostDirs, keepBlobs, mounted, hosts, projects, forgotten };
}

/** After a real run: drop from the records what gc removed; a record whose manifest is gone and that owns nothing left is deleted. */
export async function pruneRecords(hosts: GcInputs['hosts']): Promise<void> {
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
