/**
 * One-off containers of a service: `<engine> … run --rm --no-deps -T --name <unique> -l … --entrypoint …`
 * with a time limit, and their removal on timeout, Ctrl+C and at the end of the run.
 *
 * Facts this relies on (docker-compose 1.29.2 on Docker 20.10, checked here;
 * Compose v2 from its source and reference):
 *   - `run` has `--rm`, `--no-deps`, `-T` (v2: `--no-TTY`), `--name`,
 *     `--entrypoint`, `-l/--label` in v1 and v2, and exits with the container's
 *     exit status. Options must come before the service name (v2 stops parsing
 *     flags there).
 *   - `init: true` (accepted by 1.29 with any file version) puts docker-init as
 *     PID 1, which forwards signals and reaps children. Timeouts and Ctrl+C do
 *     not depend on it: they `docker rm -f` the named container (SIGKILL), which
 *     also ends the attached `run` client (exit 1 in v1).
 */
import type { ProcessOutput, ProcessPromise, Shell } from 'zx';
import type { ComposeEngine } from '../compose/engine.ts';
import { SmokeError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import type { Manifest } from '../manifest/schema.ts';
import type { ServiceReport } from './report.ts';

/** Label put on every smoke container (value: the run id); a final sweep removes what is left. */
export const SMOKE_LABEL = 'io.modelmount.smoke';

/** One smoke run: what every step of every service needs. */
export interface SmokeContext {
  manifest: Manifest;
  engine: ComposeEngine;
  sh: Shell;
  /** the docker CLI that removes containers (`docker`, or `podman` for podman compose) */
  cli: string;
  projectDir: string;
  /** `-f` and each Compose file */
  baseArgs: string[];
  /** `--profile` options `config` needs for the listed services (lib/compose/run-config.ts profileArgs) */
  profileArgs: string[];
  tmpDir: string;
  runId: string;
  labels: Record<string, string>;
  signal?: AbortSignal;
  step: (msg: string) => void;
}

/** How to run a service without network: the Compose file arguments to use (prepareService). */
export interface PreparedService {
  fileArgs: string[];
  network: ServiceReport['network'];
}

export interface RunResult {
  out: ProcessOutput;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  containerRemoved?: boolean;
}

/** A service name as a part of a container or file name. */
export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'svc';
}

/** The unique name of one of the run's containers, e.g. modelmount-smoke-worker-<run id>-check. */
export function containerName(ctx: SmokeContext, service: string, what: string): string {
  return `modelmount-smoke-${safeName(service)}-${ctx.runId}-${what}`;
}

async function removeContainer(ctx: SmokeContext, name: string): Promise<void> {
  await ctx.sh`${ctx.cli} rm -f ${name}`;
}

async function containerExists(ctx: SmokeContext, name: string): Promise<boolean> {
  const out = await ctx.sh`${ctx.cli} container inspect --format {{.Id}} ${name}`;
  return out.exitCode === 0;
}

/**
 * Remove `name` and wait until it is gone: when the Compose client is stopped it may be removing
 * the container itself (`--rm`), and then `rm -f` fails with "removal already in progress" while
 * the container still exists for a moment.
 */
async function removeContainerAndWait(ctx: SmokeContext, name: string, limitMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    await removeContainer(ctx, name);
    if (!(await containerExists(ctx, name))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function sweepContainers(ctx: SmokeContext): Promise<void> {
  const out = await ctx.sh`${ctx.cli} ps -aq --filter ${`label=${SMOKE_LABEL}=${ctx.runId}`}`;
  const ids = out.stdout.split(/\s+/).filter(Boolean);
  if (ids.length > 0) await ctx.sh`${ctx.cli} rm -f ${ids}`;
}

function abortError(ctx: SmokeContext, what: string, removed = true): SmokeError {
  const container = removed ? 'its container was removed' : 'its container could NOT be removed: run `docker rm -f` on it';
  return new SmokeError(`Smoke test interrupted during ${what}; ${container}.`, {
    code: 'ESMOKE_ABORTED',
    cause: ctx.signal?.reason,
    hint: `Run \`${commandFor('smoke')}\` again when you are ready.`,
  });
}

/**
 * Run one `compose run` with a limit. On timeout or abort: remove the named
 * container (SIGKILL, whatever PID 1 does with SIGTERM) and stop the client
 * (which may still be building or creating), then check the container is gone.
 */
export async function runOneOff(ctx: SmokeContext, argv: string[], name: string, timeoutMs: number): Promise<RunResult> {
  if (ctx.signal?.aborted) throw abortError(ctx, 'start-up');
  const started = Date.now();
  let timedOut = false;
  let aborted = false;
  const p: ProcessPromise = ctx.sh({ stdio: ['ignore', 'pipe', 'pipe'] })`${argv}`;
  const stop = () => {
    void removeContainer(ctx, name);
    void p.kill('SIGTERM').catch(() => {});
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, timeoutMs);
  const onAbort = () => {
    aborted = true;
    stop();
  };
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  let out: ProcessOutput;
  try {
    out = await p;
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener('abort', onAbort);
  }
  const result: RunResult = { out, timedOut, aborted, durationMs: Date.now() - started };
  if (timedOut || aborted) {
    // the client may have created the container after the first removal
    result.containerRemoved = await removeContainerAndWait(ctx, name);
  }
  if (aborted) throw abortError(ctx, `the one-off run ${name}`, result.containerRemoved);
  return result;
}

export function runArgs(ctx: SmokeContext, prepared: PreparedService, name: string): string[] {
  const labels = { ...ctx.labels, [SMOKE_LABEL]: ctx.runId };
  return [
    ...ctx.engine.command,
    ...prepared.fileArgs,
    'run',
    '--rm',
    '--no-deps',
    '-T',
    '--name',
    name,
    ...Object.entries(labels).flatMap(([k, v]) => ['-l', `${k}=${v}`]),
  ];
}
