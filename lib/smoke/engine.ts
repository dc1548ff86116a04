/**
 * Can we smoke-test here? A Compose implementation (v2 `docker compose` or v1
 * `docker-compose`) and a reachable Docker engine are both needed.
 */
import type { Shell } from 'zx';
import { loadShell } from '../shell.ts';
import { detectCompose, type ComposeEngine } from '../compose/engine.ts';
import { ModelmountError } from '../errors.ts';

export interface SmokeEngine {
  /** the Compose implementation: enough for `config` (no daemon needed) */
  compose?: ComposeEngine;
  /** the same, when a Docker engine is also reachable: enough to run containers */
  engine?: ComposeEngine;
  /** why there is no `engine`, in words for the user */
  reason?: string;
}

/** Is a Docker engine answering? Its version when it is, else why not (in words for the user). */
export async function dockerEngine(sh: Shell): Promise<{ version: string } | { reason: string }> {
  const info = await sh`docker info --format ${'{{.ServerVersion}}'}`;
  if (info.exitCode === 0 && info.stdout.trim()) return { version: info.stdout.trim() };
  const detail = (info.stderr || info.stdout).trim().split('\n').pop() ?? '';
  return { reason: `no Docker engine is reachable (\`docker info\` failed${detail ? `: ${detail}` : ''})` };
}

export async function findSmokeEngine(opts: { $?: Shell; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<SmokeEngine> {
  const sh = (opts.$ ?? (await loadShell()))({ quiet: true, nothrow: true, timeout: '20s', ...(opts.env ? { env: opts.env } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  let engine: ComposeEngine | undefined;
  try {
    engine = await detectCompose({ $: opts.$, env: opts.env, cwd: opts.cwd });
  } catch (err) {
    return { reason: err instanceof ModelmountError ? err.message : String(err) };
  }
  if (!engine) return { reason: 'neither `docker compose` (v2) nor `docker-compose` (v1) is installed' };
  const docker = await dockerEngine(sh);
  return 'reason' in docker ? { compose: engine, reason: docker.reason } : { compose: engine, engine };
}
