/**
 * `models:smoke`: prove that a one-off container of each listed Compose service
 * sees the verified models where the app reads them, and that the app can load
 * them.
 *
 *   base files + override (+ a temporary override: network_mode none, init)   prepare-service.ts
 *     ──`<engine> … run --rm --no-deps -T --name <unique> --entrypoint sh <svc> -c <check>`──▶ step 1   check-step.ts
 *     ──`<engine> … run --rm --no-deps -T --name <unique> --entrypoint <cmd0> <svc> <cmd…>`──▶ step 2   command-step.ts
 *
 * One-off runs, time limits and container removal: one-off-run.ts; the report: report.ts.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Shell } from 'zx';
import { formatCommandLine, loadShell } from '../shell.ts';
import type { ComposeEngine } from '../compose/engine.ts';
import { composeInputs, type ComposeInputs } from '../compose/compose-inputs.ts';
import { existingComposeFiles } from '../compose/override.ts';
import { profileArgs, refuseSpecialComposeFiles } from '../compose/run-config.ts';
import { DiskError, nodeErrorCode, SmokeError, UsageError } from '../errors.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import { commandFor } from '../invocation.ts';
import { runCheck } from './check-step.ts';
import { runCommand } from './command-step.ts';
import { sweepContainers, type SmokeContext } from './one-off-run.ts';
import { prepareService } from './prepare-service.ts';
import { summarizeFailures, type ServiceReport, type SmokeFailure, type SmokeReport } from './report.ts';

export interface SmokeOptions {
  engine: ComposeEngine;
  /** also compare sha256 inside the container (when the image has sha256sum) */
  full?: boolean;
  /** abort (Ctrl+C): the running container is removed and the promise rejects with ESMOKE_ABORTED */
  signal?: AbortSignal;
  /** zx shell to run commands with (tests pass one with env/PATH) */
  $?: Shell;
  /** the environment `$` runs with (COMPOSE_PROFILES); default process.env, the default shell's */
  env?: NodeJS.ProcessEnv;
  /** the run's reads of the Compose files and .env (compose-inputs.ts); default: a new one */
  inputs?: ComposeInputs;
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

function uniqueId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** The run's temporary folder (its temporary Compose overrides) in TMPDIR; a disk error naming TMPDIR when it cannot be made there. */
async function makeTmpDir(): Promise<string> {
  const base = os.tmpdir();
  try {
    return await fs.mkdtemp(path.join(base, 'modelmount-smoke-'));
  } catch (err) {
    const code = nodeErrorCode(err);
    const denied = ['EACCES', 'EPERM', 'EROFS'].includes(code);
    throw new DiskError(`Cannot make the smoke test's temporary folder in ${base} (${code}): it holds the temporary Compose override of each run.`, {
      code: code === 'ENOSPC' || code === 'EDQUOT' ? 'ENOSPC' : denied ? 'EPERM' : 'EMKDIR',
      cause: err,
      hint: `Point TMPDIR at a writable folder that exists (e.g. TMPDIR=/var/tmp)${code === 'ENOSPC' || code === 'EDQUOT' ? ' or free some space there' : ''}, then run again.`,
      data: { path: base, variable: 'TMPDIR' },
    });
  }
}

/**
 * Step 1 could not start: the image has no `sh` (distroless, scratch). The files are verified on
 * the host; with a smoke command, it alone decides (a warning says so); without one nothing can be
 * checked inside the image: a failure saying how to add one.
 */
function noShellOutcome(service: string, sr: ServiceReport, hasCommand: boolean): SmokeFailure[] {
  if (hasCommand) {
    sr.warnings.push(`step 1 skipped: the image of ${service} has no \`sh\` to check the mounted files inside it (they were verified on the host); the smoke command alone decides.`);
    return [];
  }
  return [{
    service,
    step: 'check',
    code: 'ESMOKE_NO_SHELL',
    message: `the image of ${service} has no \`sh\`, so nothing can be checked inside it: the built-in check needs a shell and the manifest has no smoke command.`,
    hint: 'Add a smoke command that runs without a shell to the manifest, e.g. `smoke: {command: [/app/bin/server, --check-models]}` (the program and its arguments); it alone then decides.',
  }];
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
  // what the merged-config check and apply give Compose: the override last, once it exists
  const files = await existingComposeFiles(compose, { signal: opts.signal });
  const overrideIncluded = files.includes(compose.override);
  await refuseSpecialComposeFiles(files, { signal: opts.signal });
  if (!overrideIncluded) {
    step(`the override ${compose.override} does not exist: running with the base files only (write it with \`${commandFor('compose')}\`)`);
  }
  const timeoutSeconds = manifest.smoke?.timeoutSeconds ?? 300;
  const totalBytes = artifacts.reduce((n, a) => n + a.files.reduce((m, f) => m + f.size, 0), 0);
  const checkTimeout = opts.checkTimeoutSeconds ?? Math.max(600, timeoutSeconds) + (full ? Math.ceil(totalBytes / 100e6) : 0);
  const profiles = await profileArgs(opts.inputs ?? composeInputs({ signal: opts.signal }), files, compose.services, opts.env ?? process.env);
  const tmpDir = await makeTmpDir();
  const ctx: SmokeContext = {
    manifest,
    engine: opts.engine,
    sh: (opts.$ ?? (await loadShell()))({ quiet: true, nothrow: true, cwd: projectDir }),
    cli: opts.containerCli ?? (opts.engine.command[0]?.startsWith('podman') ? 'podman' : 'docker'),
    projectDir,
    baseArgs: files.flatMap((f) => ['-f', f]),
    profileArgs: profiles,
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
      if (check.noShell) sr.failures.push(...noShellOutcome(service, sr, Boolean(command?.length)));
      if (command && command.length > 0) {
        if (!check.started && !check.noShell) {
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
    throw new SmokeError(summarizeFailures(report.failures), {
      code: codes.size === 1 ? [...codes][0]! : 'ESMOKE',
      hint: report.failures[0]!.hint,
      data: { report },
    });
  }
  return report;
}
