/**
 * Which release folders gc may remove: `<hostDir>/.modelmount/releases/<artifact id>/<digest>/`
 * (always modelmount's: only it writes below .modelmount/) of an artifact some release record of
 * the host folder names, unless it is
 *   - in the keep window of any manifest's release record (the current set and the kept ones),
 *   - mounted by a Compose override given to gc,
 *   - mounted by any container of the engine, running or stopped (`docker inspect`).
 * Without an answer from Docker, no release is removed (and gc says why).
 */
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { readJsonIfExists } from '../fs-atomic.ts';
import { releaseDir, releaseSetsDir, releasesDir } from '../layout.ts';
import type { GcItem } from '../store/gc/types.ts';
import { refuseReleaseLinks, type ReleaseRecord } from './record.ts';

export interface ReleaseGcPlan {
  removals: GcItem[];
  /** files of the removed releases that keep other names (host files, store blobs): their ctime moves */
  shared: BigIntStats[];
  kept: { path: string; why: string[] }[];
  /** why nothing was removed although something could have been */
  held?: string;
}

async function records(hostDir: string): Promise<ReleaseRecord[]> {
  let names: string[] = [];
  try {
    names = (await fs.readdir(releaseSetsDir(hostDir))).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: ReleaseRecord[] = [];
  for (const n of names) {
    const r = await readJsonIfExists<ReleaseRecord>(path.join(releaseSetsDir(hostDir), n)).catch(() => undefined);
    if (r?.version === 1 && Array.isArray(r.sets)) out.push(r);
  }
  return out;
}

/** Apparent size of a release; its files that have other names (the verified-state caches follow them). */
async function sizeOf(dir: string, shared: BigIntStats[]): Promise<number> {
  let total = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await sizeOf(p, shared);
    else if (e.isFile()) {
      const st = await fs.lstat(p, { bigint: true });
      total += Number(st.size);
      if (st.nlink > 1n) shared.push(st);
    }
  }
  return total;
}

export async function planReleaseGc(
  hostDir: string,
  opts: { overrideSources: string[]; inUse: { reachable: boolean; sources: Set<string>; detail?: string }; show?: (p: string) => string },
): Promise<ReleaseGcPlan> {
  await refuseReleaseLinks(hostDir);
  const show = opts.show ?? ((p: string) => p);
  const why = new Map<string, string[]>();
  const add = (p: string, reason: string) => {
    const list = why.get(path.resolve(p)) ?? [];
    if (!list.includes(reason)) list.push(reason);
    why.set(path.resolve(p), list);
  };
  const ids = new Set<string>();
  for (const r of await records(hostDir)) {
    for (const s of r.sets) {
      for (const [id, a] of Object.entries(s.artifacts)) {
        ids.add(id);
        add(releaseDir(hostDir, id, a.digest), s.digest === r.current ? `in the current release set of ${show(r.manifestPath)}` : `kept for rollback (keepReleases) by ${show(r.manifestPath)}`);
      }
    }
  }
  for (const s of opts.overrideSources) add(s, 'mounted by the Compose override');
  for (const s of opts.inUse.sources) add(s, 'mounted by a container (running or stopped)');
  const removals: GcItem[] = [];
  const shared: BigIntStats[] = [];
  const kept: ReleaseGcPlan['kept'] = [];
  for (const id of [...ids].sort()) {
    const parent = path.dirname(releaseDir(hostDir, id, 'x'));
    for (const e of await fs.readdir(parent, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory() || !/^[0-9a-f]{64}$/.test(e.name)) continue;
      const p = path.join(parent, e.name);
      const reasons = why.get(p);
      if (reasons) kept.push({ path: p, why: reasons });
      else removals.push({ kind: 'release', path: p, bytes: await sizeOf(p, shared), id, root: hostDir });
    }
  }
  if (removals.length && !opts.inUse.reachable) {
    return { removals: [], shared: [], kept, held: `${removals.length} release folder${removals.length === 1 ? '' : 's'} left: Docker did not answer, so modelmount cannot tell whether a stopped container still mounts ${removals.length === 1 ? 'it' : 'them'}${opts.inUse.detail ? ` (${opts.inUse.detail})` : ''}` };
  }
  return { removals, shared, kept };
}

export { releasesDir };
