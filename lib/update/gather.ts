/**
 * Read the state the plan needs: each selected host file's status (through the
 * verified-state cache, hashing only what it cannot vouch for) and which blobs
 * the store holds. Read-only.
 */
import { mapLimit } from '../concurrency.ts';
import type { Artifact, FileEntry } from '../manifest/schema.ts';
import type { Store } from '../store/store.ts';
import type { StateCache } from '../verify/state-cache.ts';
import { cacheKey, checkHostFiles, type FileCheck, type FileStatus } from '../verify/verify-files.ts';

export interface GatheredState {
  host: Map<string, FileStatus>;
  checks: FileCheck[];
  storeHas: Set<string>;
}

export async function gatherState(
  hostDir: string,
  artifacts: Artifact[],
  deps: { store: Store; hostCache: StateCache; jobs: number; full?: boolean; signal?: AbortSignal },
): Promise<GatheredState> {
  const checks = await checkHostFiles(hostDir, artifacts, deps.hostCache, { jobs: deps.jobs, full: deps.full, signal: deps.signal });
  const host = new Map(checks.map((c) => [cacheKey(c.artifactId, c.path), c.status]));
  const needBytes = new Map<string, FileEntry>();
  for (const c of checks) if (c.status !== 'ok') needBytes.set(c.expected.sha256, c.expected);
  const storeHas = new Set<string>();
  await mapLimit([...needBytes.values()], deps.jobs, async (f) => {
    if (await deps.store.has(f, { signal: deps.signal })) storeHas.add(f.sha256);
  });
  return { host, checks, storeHas };
}
