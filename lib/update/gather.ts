/**
 * Read the state the plan needs: each selected host file's status (through the
 * verified-state cache, hashing only what it cannot vouch for) and which blobs
 * the store holds. Read-only.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
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
  // a blob whose shard folder (sha256/ab/) is missing is not there: at most 256 lstats for a new
  // store instead of one failing lstat per blob
  const shards = [...new Set([...needBytes.values()].map((f) => path.dirname(deps.store.blobPath(f.sha256))))];
  const shardThere = new Map(
    await mapLimit(shards, deps.jobs, async (d) => [d, await fs.lstat(d).then(() => true, (err: NodeJS.ErrnoException) => err.code !== 'ENOENT')] as const),
  );
  const candidates = [...needBytes.values()].filter((f) => shardThere.get(path.dirname(deps.store.blobPath(f.sha256))) !== false);
  await mapLimit(candidates, deps.jobs, async (f) => {
    if (await deps.store.has(f, { signal: deps.signal })) storeHas.add(f.sha256);
  });
  return { host, checks, storeHas };
}
