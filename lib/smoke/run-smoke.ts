/**
 * `models:smoke`: prove that a one-off container of each listed Compose service
 * sees the verified models where the app reads them, and that the app can load
 * them.
 *
 *   base files + override (+ a temporary override: network_mode none, init)
 *     ──`<engine> … run --rm --no-deps -T --name <unique> --entrypoint sh <svc> -c <check>`──▶ step 1
 *     ──`<engine> … run --rm --no-deps -T --name <unique> --entrypoint <cmd0> <svc> <cmd…>`──▶ step 2
 *
 * Facts this relies on (docker-compose 1.29.2 on Docker 20.10, checked here;
 * Compose v2 from its source and reference):
 *   - `run` has `--rm`, `--no-deps`, `-T` (v2: `--no-TTY`), `--name`,
 *     `--entrypoint`, `-l/--label` in v1 and v2, and exits with the container's
 *     exit status. Options must come before the service name (v2 stops parsing
 *     flags there).
 *   - `--entrypoint` is split like a shell word list (v1 shlex, v2
 *     go-shellwords): the command's first word is passed single-quoted.
 *   - `run` has no network flag: a temporary extra override sets
 *     `network_mode: none`. If the service declares `networks:`, both v1
 *     ("'network_mode' and 'networks' cannot be combined") and v2 ("declares
 *     mutually exclusive `network_mode` and `networks`") refuse, and an override
 *     cannot remove the list (v1 merges `networks`; `networks: []`, `{}` and
 *     `null` are refused or merged). Then the smoke runs a copy of the merged
 *     `config` output, with the service's `networks` removed, from the original
 *     project folder (`--project-directory`, so project name, `.env` and image
 *     names stay the same). v1's `config` output re-escapes `$` as `$$` and
 *     makes every path absolute, so the copy is equivalent.
 *   - `init: true` (accepted by 1.29 with any file version) puts docker-init as
 *     PID 1, which forwards signals and reaps children. Timeouts and Ctrl+C do
 *     not depend on it: they `docker rm -f` the named container (SIGKILL), which
 *     also ends the attached `run` client (exit 1 in v1).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { ProcessOutput, ProcessPromise, Shell } from 'zx';
import { formatCommandLine, loadShell } from '../shell.ts';
import type { ComposeEngine } from '../compose/engine.ts';
import { refuseSpecialComposeFiles } from '../compose/config.ts';
import { SmokeError, UsageError, type SmokeFailureCode } from '../errors.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import {
  buildCheckScript,
  checkArtifactsFor,
  chunkCheckArtifacts,
  parseCheckOutput,
  type CheckArtifact,
  type CheckEvent,
  type ParsedCheckOutput,
} from './in-container-check.ts';
import { commandFor } from '../invocation.ts';
import { pathExists } from '../fs-atomic.ts';
import { composeConfigOutput, servicesSection } from '../compose/config.ts';

/** Label put on every smoke container (value: the run id); a final sweep removes what is left. */
export const SMOKE_LABEL = 'io.modelmount.smoke';
const TAIL_LINES = 20;

export interface SmokeOptions {
  engine: ComposeEngine;
  /** also compare sha256 inside the container (when the image has sha256sum) */
  full?: boolean;
  /** abort (Ctrl+C): the running container is removed and the promise rejects with ESMOKE_ABORTED */
  signal?: AbortSignal;
  /** zx shell to run commands with (tests pass one with env/PATH) */
  $?: Shell;
  onStep?: (msg: string) => void;
  /** limit for step 1, which may also build the image; default max(600, smoke.timeoutSeconds) s, plus time to hash with `full` */
  checkTimeoutSeconds?: number;
  /** extra labels for the smoke containers (tests use them to clean up) */
  labels?: Record<string, string>;
  /** unique id used in container names and the smoke label; random by default */
  runId?: string;
  /** the docker CLI used to remove containers; default `docker` (`podman` for podman compose) */
  containerCli?: string;
}

export type FileStatus = 'ok' | 'missing' | 'unreadable' | 'size' | 'sha256' | 'not-checked';

export interface FileResult {
  path: string;
  expectedSize: number;
  actualSize: number | null;
  status: FileStatus;
  sha256: 'match' | 'mismatch' | 'skipped' | 'not-checked';
  detail?: string;
}

export interface ArtifactResult {
  id: string;
  target: string;
  ok: boolean;
  /** the folder exists in the container (null: not reported) */
  exists: boolean | null;
  /** a mount other than the image's root filesystem covers the folder */
  mounted: boolean | null;
  mountPoint?: string;
  mountOptions?: string[];
  readOnly: boolean | null;
  readOnlyEvidence?: string;
  files: FileResult[];
}

export type StepStatus = 'passed' | 'failed' | 'timed-out' | 'error' | 'skipped';

export interface StepResult {
  status: StepStatus;
  containerName?: string;
  exitCode: number | null;
  durationMs: number;
  /** last lines of the container's output (Compose's own progress lines removed) */
  outputTail: string[];
  /** after a timeout: the named container no longer exists */
  containerRemoved?: boolean;
  reason?: string;
}

export interface CheckStepResult extends StepResult {
  full: boolean;
  /** what the image offered for hashing */
  sha256Tool: 'sha256sum' | 'none' | 'unknown';
  artifacts: ArtifactResult[];
}

export interface CommandStepResult extends StepResult {
  argv: string[];
  timeoutSeconds: number;
}

export interface SmokeFailure {
  service: string;
  step: 'setup' | 'check' | 'command';
  code: SmokeFailureCode;
  message: string;
  hint: string;
  artifact?: string;
  file?: string;
}

export interface ServiceReport {
  service: string;
  /** how `network_mode: none` was applied: an extra override, or a copy of the merged config (service declares networks) */
  network: 'override' | 'merged-config' | 'unknown';
  check: CheckStepResult;
  /** null when the manifest has no smoke.command */
  command: CommandStepResult | null;
  warnings: string[];
  failures: SmokeFailure[];
}

export interface SmokeReport {
  ok: boolean;
  runId: string;
  engine: { version: ComposeEngine['version']; command: string[]; fullVersion: string };
  full: boolean;
  /** the Compose files given to every run (without the temporary one) */
  files: string[];
  override: string;
  overrideIncluded: boolean;
  services: ServiceReport[];
  failures: SmokeFailure[];
  durationMs: number;
}

// ---------------------------------------------------------------------------

interface Ctx {
  manifest: Manifest;
  engine: ComposeEngine;
  sh: Shell;
  cli: string;
  projectDir: string;
  baseArgs: string[];
  tmpDir: string;
  runId: string;
  labels: Record<string, string>;
  signal?: AbortSignal;
  step: (msg: string) => void;
}

interface Prepared {
  fileArgs: string[];
  network: ServiceReport['network'];
}

interface RunResult {
  out: ProcessOutput;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  containerRemoved?: boolean;
}

function uniqueId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'svc';
}

/** Quote a word for shlex (v1) and go-shellwords (v2) when it needs it. */
export function entrypointWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}

/** Compose's own progress lines, not the container's output. */
const COMPOSE_NOISE = [
  /^(Creating|Starting|Recreating|Building|Pulling|Removing|Stopping) \S+ \.\.\.( done| error)?\s*$/,
  /^Creating network ".*" with (the default )?driver/,
  /^\[\+\] /,
  /^ *(✔|⠿|✘)? *(Container|Network|Volume) \S+ +(Creating|Created|Starting|Started|Running|Removing|Removed|Waiting|Healthy)\s*$/,
  /^Image for service .* was built because it did not already exist/,
  /^WARNING: Found orphan containers/,
  /^Some networks were defined but are not used by any service/,
  // the legacy builder's progress when `run` builds a missing image (errors stay)
  /^Building \S+$/,
  /^Step \d+\/\d+ : /,
  /^ ---> /,
  /^Removing intermediate container /,
  /^Successfully (built|tagged) /,
];

export function outputTail(text: string, lines = TAIL_LINES): string[] {
  const kept = text
    .split('\n')
    .flatMap((l) => l.split('\r'))
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => l !== '' && !COMPOSE_NOISE.some((re) => re.test(l)) && !l.startsWith('MM\t'));
  return kept.slice(-lines);
}

function tailText(lines: string[]): string {
  return lines.length === 0 ? '(no output)' : lines.join('\n');
}

function combined(out: ProcessOutput): string {
  return out.stdall || `${out.stdout}${out.stderr}`;
}

// ---------------------------------------------------------------------------
// Containers

async function removeContainer(ctx: Ctx, name: string): Promise<void> {
  await ctx.sh`${ctx.cli} rm -f ${name}`;
}

async function containerExists(ctx: Ctx, name: string): Promise<boolean> {
  const out = await ctx.sh`${ctx.cli} container inspect --format {{.Id}} ${name}`;
  return out.exitCode === 0;
}

/**
 * Remove `name` and wait until it is gone: when the Compose client is stopped it may be removing
 * the container itself (`--rm`), and then `rm -f` fails with "removal already in progress" while
 * the container still exists for a moment.
 */
async function removeContainerAndWait(ctx: Ctx, name: string, limitMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    await removeContainer(ctx, name);
    if (!(await containerExists(ctx, name))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function sweepContainers(ctx: Ctx): Promise<void> {
  const out = await ctx.sh`${ctx.cli} ps -aq --filter ${`label=${SMOKE_LABEL}=${ctx.runId}`}`;
  const ids = out.stdout.split(/\s+/).filter(Boolean);
  if (ids.length > 0) await ctx.sh`${ctx.cli} rm -f ${ids}`;
}

function abortError(ctx: Ctx, what: string, removed = true): SmokeError {
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
async function runOneOff(ctx: Ctx, argv: string[], name: string, timeoutMs: number): Promise<RunResult> {
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

function runArgs(ctx: Ctx, prepared: Prepared, name: string): string[] {
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

// ---------------------------------------------------------------------------
// Setup: no network for the one-off container

function composeConfig(ctx: Ctx, fileArgs: string[]): ReturnType<typeof composeConfigOutput> {
  return composeConfigOutput(ctx.engine, fileArgs, { $: ctx.sh, timeout: '120s' });
}

function servicesOf(yamlText: string): Record<string, Record<string, unknown> | null> {
  return servicesSection(parseYaml(yamlText, { uniqueKeys: false }));
}

function setupFailure(service: string, code: SmokeFailureCode, message: string, hint: string): SmokeFailure {
  return { service, step: 'setup', code, message, hint };
}

const NETWORKS_CONFLICT = /network_mode.*networks.*(cannot be combined|mutually exclusive)|mutually exclusive.*network_mode/is;

async function prepareService(ctx: Ctx, service: string): Promise<Prepared | SmokeFailure> {
  const tmpOverride = path.join(ctx.tmpDir, `${safeName(service)}.smoke-override.yaml`);
  const header = '# Temporary override written by modelmount smoke: no network for the one-off container. Deleted after the run.\n';
  const write = (svc: Record<string, unknown>) =>
    fs.writeFile(tmpOverride, header + stringifyYaml({ services: { [service]: svc } }, { lineWidth: 0 }), { mode: 0o600 });
  const noService = (files: string) =>
    setupFailure(service, 'ESMOKE_NO_SERVICE', `Service ${service} is not defined in ${files}.`, 'Fix compose.services in the manifest (or compose.files) so it names a service of your Compose project.');

  let attrs: Record<string, unknown> = { network_mode: 'none', init: true };
  await write(attrs);
  let out = await composeConfig(ctx, [...ctx.baseArgs, '-f', tmpOverride]);
  if (out.exitCode !== 0 && /\binit\b/.test(out.stderr) && !NETWORKS_CONFLICT.test(out.stderr)) {
    attrs = { network_mode: 'none' };
    await write(attrs);
    out = await composeConfig(ctx, [...ctx.baseArgs, '-f', tmpOverride]);
  }
  if (out.exitCode === 0) {
    if (!servicesOf(out.stdout)[service]) return noService(ctx.baseArgs.filter((_, i) => i % 2 === 1).join(', '));
    return { fileArgs: [...ctx.baseArgs, '-f', tmpOverride], network: 'override' };
  }
  if (!NETWORKS_CONFLICT.test(out.stderr)) {
    return setupFailure(
      service,
      'ESMOKE_COMPOSE',
      `\`${ctx.engine.command.join(' ')} config\` failed for ${service}: ${tailText(outputTail(out.stderr || out.stdout, 8))}`,
      `Fix the Compose files named above; \`${commandFor('doctor')}\` checks them too.`,
    );
  }
  // The service declares `networks:`, which an override cannot take away: run a
  // copy of the merged configuration without them.
  const merged = await composeConfig(ctx, ctx.baseArgs);
  if (merged.exitCode !== 0) {
    return setupFailure(service, 'ESMOKE_COMPOSE', `\`${ctx.engine.command.join(' ')} config\` failed: ${tailText(outputTail(merged.stderr, 8))}`, 'Fix the Compose files named above.');
  }
  const doc = parseYaml(merged.stdout, { uniqueKeys: false }) as Record<string, unknown> | null;
  const svc = servicesSection(doc)[service];
  if (!doc || !svc) return noService(ctx.baseArgs.filter((_, i) => i % 2 === 1).join(', '));
  delete svc.networks;
  Object.assign(svc, attrs);
  // drop network definitions no service uses any more (Compose would warn, and might create them)
  const top = (doc as { networks?: Record<string, unknown> }).networks;
  if (top && typeof top === 'object') {
    const used = new Set<string>();
    for (const s of Object.values(servicesSection(doc))) {
      const n = s?.networks;
      for (const name of Array.isArray(n) ? n : n && typeof n === 'object' ? Object.keys(n) : []) used.add(String(name));
      if (!s?.network_mode && !n) used.add('default');
    }
    for (const name of Object.keys(top)) if (!used.has(name)) delete top[name];
    if (Object.keys(top).length === 0) delete (doc as { networks?: unknown }).networks;
  }
  const mergedFile = path.join(ctx.tmpDir, `${safeName(service)}.smoke-merged.yaml`);
  await fs.writeFile(mergedFile, stringifyYaml(doc, { lineWidth: 0 }), { mode: 0o600 });
  ctx.step(`${service} declares networks, which Compose will not combine with network_mode: none in an override; running a copy of the merged config without them`);
  return { fileArgs: ['--project-directory', ctx.projectDir, '-f', mergedFile], network: 'merged-config' };
}

// ---------------------------------------------------------------------------
// Step 1: the built-in check

function eventsFor(parsed: ParsedCheckOutput, id: string): CheckEvent[] {
  return parsed.events.filter((e) => 'id' in e && e.id === id);
}

interface Evaluation {
  artifacts: ArtifactResult[];
  failures: SmokeFailure[];
  warnings: string[];
}

/** Turn the parsed check output into per-artifact results and user-facing failures. Pure. */
export function evaluateCheck(service: string, checks: readonly CheckArtifact[], parsed: ParsedCheckOutput, full: boolean): Evaluation {
  const failures: SmokeFailure[] = [];
  const warnings: string[] = [];
  const shaSkipped = parsed.events.some((e) => e.kind === 'sha-skipped');
  const fail = (code: SmokeFailureCode, message: string, hint: string, artifact: string, file?: string) =>
    failures.push({ service, step: 'check', code, message, hint, artifact, ...(file ? { file } : {}) });
  const notMountedHint = `Write the override with \`${commandFor('compose')}\` and make Compose read it after your base files (-f, COMPOSE_FILE or include; \`${commandFor('compose', '--print')}\` shows how).`;
  const filesHint = `The mounted host folder does not hold the verified files: run \`${commandFor('update')}\`, then \`${commandFor('doctor')}\`.`;

  const artifacts: ArtifactResult[] = [];
  for (const a of checks) {
    const evs = eventsFor(parsed, a.id);
    const missingDir = evs.find((e) => e.kind === 'missing-dir');
    const mount = evs.find((e) => e.kind === 'mount');
    const ro = evs.find((e) => e.kind === 'read-only' || e.kind === 'writable' || e.kind === 'ro-unknown');
    const res: ArtifactResult = {
      id: a.id,
      target: a.target,
      ok: true,
      exists: missingDir ? false : evs.length > 0 ? true : null,
      mounted: null,
      readOnly: null,
      files: [],
    };
    if (mount?.kind === 'mount') {
      res.mountPoint = mount.mountPoint;
      res.mountOptions = mount.options;
      res.mounted = mount.mountPoint !== '/' && mount.mountPoint !== '';
    } else if (missingDir) {
      res.mounted = false;
    }
    if (ro?.kind === 'read-only') {
      res.readOnly = true;
      res.readOnlyEvidence = ro.evidence;
    } else if (ro?.kind === 'writable') {
      res.readOnly = false;
      res.readOnlyEvidence = ro.detail;
    } else if (ro?.kind === 'ro-unknown') {
      res.readOnlyEvidence = ro.detail;
      warnings.push(`${a.id} in ${service}: could not prove that ${a.target} is read-only (${ro.detail}).`);
    }

    for (const f of a.files) {
      const ev = evs.find((e) => 'path' in e && e.path === f.path);
      const fr: FileResult = { path: f.path, expectedSize: f.size, actualSize: null, status: 'not-checked', sha256: 'not-checked' };
      if (ev?.kind === 'file-ok') {
        fr.status = 'ok';
        fr.actualSize = ev.size;
        fr.sha256 = ev.method === 'sha256' ? 'match' : full && shaSkipped ? 'skipped' : 'not-checked';
      } else if (ev?.kind === 'missing-file') {
        fr.status = 'missing';
        fr.detail = ev.detail;
      } else if (ev?.kind === 'unreadable') {
        fr.status = 'unreadable';
        fr.detail = ev.detail;
      } else if (ev?.kind === 'size-mismatch') {
        fr.status = 'size';
        fr.actualSize = ev.actual;
      } else if (ev?.kind === 'sha-mismatch') {
        fr.status = 'sha256';
        fr.sha256 = 'mismatch';
        fr.detail = `sha256 ${ev.actual}`;
      }
      res.files.push(fr);
    }

    // failures, most fundamental first
    const imageOnly = res.mounted === false && res.exists === true;
    if (missingDir) {
      fail('ESMOKE_NOT_MOUNTED', `${a.id} is not mounted at ${a.target} in ${service}: is the override included? run ${commandFor('compose')}`, notMountedHint, a.id);
    } else if (imageOnly && res.files.some((f) => f.status !== 'ok')) {
      fail(
        'ESMOKE_NOT_MOUNTED',
        `${a.id} is not mounted at ${a.target} in ${service} (the folder comes from the image and lacks the model files): is the override included? run ${commandFor('compose')}`,
        notMountedHint,
        a.id,
      );
    } else {
      if (imageOnly) warnings.push(`${a.id} in ${service}: ${a.target} is not a mount; the files come from the image.`);
      if (res.readOnly === false) {
        fail(
          'ESMOKE_WRITABLE',
          `${a.id} at ${a.target} in ${service} is writable: the mount must be read_only (${res.readOnlyEvidence ?? 'write probe succeeded'})`,
          `Regenerate the override with \`${commandFor('compose')}\` (it mounts every artifact with read_only: true) and remove any other writable mount of ${a.target} or its parents.`,
          a.id,
        );
      }
      for (const f of res.files) {
        if (f.status === 'missing') {
          fail('ESMOKE_FILE_MISSING', `${f.path} in ${a.id} is missing in the container at ${a.target}/${f.path} (${f.detail ?? 'no such file'})`, filesHint, a.id, f.path);
        } else if (f.status === 'unreadable') {
          fail(
            'ESMOKE_UNREADABLE',
            `${f.path} in ${a.id} cannot be read in the container (${f.detail ?? 'permission denied'})`,
            'Make the host files readable by the container user (e.g. chmod a+r, or run the service with a matching user).',
            a.id,
            f.path,
          );
        } else if (f.status === 'size') {
          fail('ESMOKE_SIZE', `${f.path} in ${a.id} is ${f.actualSize ?? '?'} bytes in the container, expected ${f.expectedSize}`, filesHint, a.id, f.path);
        } else if (f.status === 'sha256') {
          const expected = a.files.find((x) => x.path === f.path)?.sha256 ?? '';
          fail('ESMOKE_SHA256', `${f.path} in ${a.id} has ${f.detail ?? 'another sha256'} in the container, expected ${expected}`, filesHint, a.id, f.path);
        }
      }
    }
    res.ok = !failures.some((x) => x.artifact === a.id) && res.files.every((f) => f.status === 'ok');
    artifacts.push(res);
  }
  if (full && shaSkipped) warnings.push(`${service}: sha256 skipped: no sha256sum in image (sizes were checked).`);
  return { artifacts, failures, warnings };
}

/** Merge the parts `chunkCheckArtifacts` split an artifact into, back into one entry per id. */
function mergeParts(chunks: CheckArtifact[][]): CheckArtifact[] {
  const byId = new Map<string, CheckArtifact>();
  for (const part of chunks.flat()) {
    const cur = byId.get(part.id);
    if (cur) cur.files.push(...part.files);
    else byId.set(part.id, { ...part, files: [...part.files] });
  }
  return [...byId.values()];
}

function explainNoStart(service: string, text: string, exitCode: number | null): string {
  if (/exec: "?sh"?: executable file not found|"sh": executable file not found|sh: not found|no such file or directory: unknown/i.test(text)) {
    return `the image of ${service} has no \`sh\`: the built-in check needs a POSIX shell in the image`;
  }
  return `could not run the built-in check in ${service} (exit ${exitCode ?? 'killed'}): ${tailText(outputTail(text, 8))}`;
}

async function runCheck(
  ctx: Ctx,
  service: string,
  prepared: Prepared,
  artifacts: readonly Artifact[],
  full: boolean,
  timeoutSeconds: number,
): Promise<{ result: CheckStepResult; failures: SmokeFailure[]; warnings: string[]; started: boolean }> {
  const compose = ctx.manifest.compose!;
  const checks = checkArtifactsFor(artifacts, compose.containerDir);
  const chunks = chunkCheckArtifacts(checks);
  if (chunks.length === 0) chunks.push([]);
  const result: CheckStepResult = { status: 'passed', exitCode: 0, durationMs: 0, outputTail: [], full, sha256Tool: 'unknown', artifacts: [] };
  const merged: ParsedCheckOutput = { events: [], started: false, complete: true, other: [], malformed: [] };
  const failures: SmokeFailure[] = [];
  for (const [i, chunk] of chunks.entries()) {
    const name = `modelmount-smoke-${safeName(service)}-${ctx.runId}-check${chunks.length > 1 ? i + 1 : ''}`;
    result.containerName = name;
    const argv = [...runArgs(ctx, prepared, name), '--entrypoint', 'sh', service, '-c', buildCheckScript(chunk, { full })];
    const run = await runOneOff(ctx, argv, name, timeoutSeconds * 1000);
    result.durationMs += run.durationMs;
    result.exitCode = run.out.exitCode;
    const text = combined(run.out);
    const parsed = parseCheckOutput(run.out.stdout);
    result.outputTail = outputTail(`${parsed.other.join('\n')}\n${run.out.stderr}`);
    merged.events.push(...parsed.events);
    merged.other.push(...parsed.other);
    merged.malformed.push(...parsed.malformed);
    merged.started ||= parsed.started;
    if (run.timedOut) {
      result.status = 'timed-out';
      result.containerRemoved = run.containerRemoved;
      result.reason = `timed out after ${timeoutSeconds} s`;
      failures.push({
        service,
        step: 'check',
        code: 'ESMOKE_TIMEOUT',
        message: `the built-in check in ${service} timed out after ${timeoutSeconds} s: ${tailText(result.outputTail.slice(-5))}`,
        hint: 'Building the image or hashing large files (--full) can take long; pass a larger check timeout, or build the image first.',
      });
      merged.complete = false;
      break;
    }
    if (!parsed.complete) {
      result.status = 'error';
      result.reason = explainNoStart(service, text, run.out.exitCode);
      failures.push({ service, step: 'check', code: 'ESMOKE_CHECK_ERROR', message: result.reason, hint: 'Run the printed Compose command by hand to see the full error.' });
      merged.complete = false;
      break;
    }
  }
  const tools = merged.events.find((e) => e.kind === 'tools');
  if (tools?.kind === 'tools') result.sha256Tool = tools.sha256 === 'sha256sum' ? 'sha256sum' : 'none';
  const evaluation = evaluateCheck(service, mergeParts(chunks), merged, full);
  result.artifacts = evaluation.artifacts;
  failures.push(...(merged.complete || merged.started ? evaluation.failures : []));
  if (result.status === 'passed' && failures.length > 0) result.status = 'failed';
  return { result, failures, warnings: evaluation.warnings, started: merged.started };
}

// ---------------------------------------------------------------------------
// Step 2: the app's own load check

async function runCommand(ctx: Ctx, service: string, prepared: Prepared, command: string[], timeoutSeconds: number): Promise<{ result: CommandStepResult; failure?: SmokeFailure }> {
  const name = `modelmount-smoke-${safeName(service)}-${ctx.runId}-command`;
  const [first = '', ...rest] = command;
  const argv = [...runArgs(ctx, prepared, name), '--entrypoint', entrypointWord(first), service, ...rest];
  const run = await runOneOff(ctx, argv, name, timeoutSeconds * 1000);
  const tail = outputTail(combined(run.out));
  // docker-compose v1 prints a failed container's exit status as a last line of its own
  if (ctx.engine.version === 'v1' && run.out.exitCode !== 0 && tail.at(-1) === String(run.out.exitCode)) tail.pop();
  const result: CommandStepResult = {
    status: 'passed',
    containerName: name,
    exitCode: run.out.exitCode,
    durationMs: run.durationMs,
    outputTail: tail,
    argv: command,
    timeoutSeconds,
  };
  const shown = formatCommandLine(command);
  if (run.timedOut) {
    result.status = 'timed-out';
    result.containerRemoved = run.containerRemoved;
    result.reason = `timed out after ${timeoutSeconds} s`;
    return {
      result,
      failure: {
        service,
        step: 'command',
        code: 'ESMOKE_TIMEOUT',
        message: `smoke command timed out after ${timeoutSeconds} s in ${service} (${shown}); the container was ${run.containerRemoved ? 'removed' : 'NOT removed: docker rm -f ' + name}. Last output:\n${tailText(tail)}`,
        hint: 'If loading the models legitimately takes longer, raise smoke.timeoutSeconds in the manifest; otherwise the output shows where it hangs.',
      },
    };
  }
  if (run.out.exitCode !== 0) {
    result.status = 'failed';
    result.reason = `exited ${run.out.exitCode ?? 'by a signal'}`;
    return {
      result,
      failure: {
        service,
        step: 'command',
        code: 'ESMOKE_COMMAND_FAILED',
        message: `smoke command exited ${run.out.exitCode ?? 'by a signal'} in ${service} (${shown}):\n${tailText(tail)}`,
        hint: "This is the app's own load check failing; its output is above. Fix the model check failures first, if any.",
      },
    };
  }
  return { result };
}

// ---------------------------------------------------------------------------

function summarize(failures: SmokeFailure[]): string {
  if (failures.length === 1) return failures[0]!.message;
  const services = [...new Set(failures.map((f) => f.service))].join(', ');
  return `Smoke test failed for ${services} (${failures.length} problems):\n${failures.map((f) => `  - ${f.message.replace(/\n/g, '\n    ')}`).join('\n')}`;
}

/**
 * Run the smoke test for every service in `manifest.compose.services` and
 * return the report; throw SmokeError (exit 8) with the report in `data.report`
 * when anything failed.
 */
export async function runSmoke(manifest: Manifest, artifacts: readonly Artifact[], opts: SmokeOptions): Promise<SmokeReport> {
  const compose = manifest.compose;
  if (!compose) {
    throw new UsageError(`${manifest.path} has no \`compose:\` section, so there is no service to smoke-test.`, {
      code: 'ENOCOMPOSE',
      hint: 'Add `compose: {files, services, override, containerDir}` to the manifest.',
    });
  }
  const started = Date.now();
  const full = opts.full === true;
  const runId = (opts.runId ?? uniqueId()).toLowerCase().replace(/[^a-z0-9]/g, '');
  const step = opts.onStep ?? (() => {});
  const projectDir = path.dirname(compose.files[0] ?? manifest.path);
  // the override goes last, like every documented way of including it; if the
  // manifest already lists it among the base files, it is used from there
  const listed = compose.files.includes(compose.override);
  const overrideExists = await pathExists(compose.override);
  const overrideIncluded = listed || overrideExists;
  const files = listed || !overrideExists ? [...compose.files] : [...compose.files, compose.override];
  await refuseSpecialComposeFiles(files);
  if (!overrideIncluded) {
    step(`the override ${compose.override} does not exist: running with the base files only (write it with \`${commandFor('compose')}\`)`);
  }
  const timeoutSeconds = manifest.smoke?.timeoutSeconds ?? 300;
  const totalBytes = artifacts.reduce((n, a) => n + a.files.reduce((m, f) => m + f.size, 0), 0);
  const checkTimeout = opts.checkTimeoutSeconds ?? Math.max(600, timeoutSeconds) + (full ? Math.ceil(totalBytes / 100e6) : 0);
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-smoke-'));
  const ctx: Ctx = {
    manifest,
    engine: opts.engine,
    sh: (opts.$ ?? (await loadShell()))({ quiet: true, nothrow: true, cwd: projectDir }),
    cli: opts.containerCli ?? (opts.engine.command[0]?.startsWith('podman') ? 'podman' : 'docker'),
    projectDir,
    baseArgs: files.flatMap((f) => ['-f', f]),
    tmpDir,
    runId,
    labels: opts.labels ?? {},
    signal: opts.signal,
    step,
  };

  const report: SmokeReport = {
    ok: false,
    runId,
    engine: { version: opts.engine.version, command: opts.engine.command, fullVersion: opts.engine.fullVersion },
    full,
    files,
    override: compose.override,
    overrideIncluded,
    services: [],
    failures: [],
    durationMs: 0,
  };

  try {
    for (const service of compose.services) {
      const sr: ServiceReport = {
        service,
        network: 'unknown',
        check: { status: 'skipped', exitCode: null, durationMs: 0, outputTail: [], full, sha256Tool: 'unknown', artifacts: [] },
        command: null,
        warnings: [],
        failures: [],
      };
      report.services.push(sr);
      step(`${service}: prepare a one-off container without network`);
      const prepared = await prepareService(ctx, service);
      if ('code' in prepared) {
        sr.failures.push(prepared);
        sr.check.reason = prepared.message;
        continue;
      }
      sr.network = prepared.network;

      step(`${service}: check ${artifacts.length} artifact folder${artifacts.length === 1 ? '' : 's'} in the container${full ? ' (sizes and sha256)' : ' (sizes)'}`);
      const check = await runCheck(ctx, service, prepared, artifacts, full, checkTimeout);
      sr.check = check.result;
      sr.failures.push(...check.failures);
      sr.warnings.push(...check.warnings);

      const command = manifest.smoke?.command;
      if (command && command.length > 0) {
        if (!check.started) {
          sr.command = { status: 'skipped', exitCode: null, durationMs: 0, outputTail: [], argv: command, timeoutSeconds, reason: 'the container could not run the built-in check' };
        } else {
          step(`${service}: run the smoke command \`${formatCommandLine(command)}\` (limit ${timeoutSeconds} s)`);
          const cmd = await runCommand(ctx, service, prepared, command, timeoutSeconds);
          sr.command = cmd.result;
          if (cmd.failure) sr.failures.push(cmd.failure);
        }
      }
    }
  } finally {
    await sweepContainers(ctx).catch(() => {});
    await fs.rm(tmpDir, { recursive: true, force: true }).catch(() => {});
  }

  report.failures = report.services.flatMap((s) => s.failures);
  report.ok = report.failures.length === 0;
  report.durationMs = Date.now() - started;
  if (!report.ok) {
    const codes = new Set(report.failures.map((f) => f.code));
    throw new SmokeError(summarize(report.failures), {
      code: codes.size === 1 ? [...codes][0]! : 'ESMOKE',
      hint: report.failures[0]!.hint,
      data: { report },
    });
  }
  return report;
}
