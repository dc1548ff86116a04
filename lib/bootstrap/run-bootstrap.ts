/**
 * Bootstrap, what `modelmount bootstrap` runs: a new environment, start to finish. Check what can
 * be checked, ask what is not answered by options (all before any byte moves), then
 * update → override → smoke → doctor, and say what is where and what to run next.
 * Every question has a flag, so `bootstrap --yes …` runs unattended; on a
 * bootstrapped host it changes nothing. Returns the exit status.
 */
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { composeInputs } from '../compose/compose-inputs.ts';
import { listComposeServices } from '../compose/services.ts';
import type { DoctorFinding } from '../doctor/check.ts';
import { formatFindings } from '../doctor/format-findings.ts';
import { doctorExitCode, runDoctor } from '../doctor/run-doctor.ts';
import { ExitCode } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import type { Io } from '../io.ts';
import { classifySourceUrl } from '../manifest/source-url.ts';
import { loadRunContext } from '../run-context.ts';
import { loadShell } from '../shell.ts';
import { findSmokeEngine } from '../smoke/engine.ts';
import * as prompts from '../ui/prompts.ts';
import { chooseSelection } from '../update/choose-selection.ts';
import { afterInstall } from '../update/post-install.ts';
import { formatUpdateSummary } from '../update/report.ts';
import { runUpdate, type UpdateOptions } from '../update/run-update.ts';
import { checkDocker, checkNode, checkSources, checkSpace, checkWritable, type PrereqCheck } from './prereqs.ts';

export interface BootstrapOptions extends UpdateOptions {
  /** undefined: not given (asked on a terminal; default yes) */
  smoke?: boolean;
  /** smoke test: also compare sha256 inside the container */
  full?: boolean;
}

const MARK = { ok: '✔', warn: '⚠', error: '✖' } as const;

function formatChecks(checks: PrereqCheck[]): string {
  return `${checks.map((c) => `${MARK[c.verdict]} ${c.message}${c.verdict !== 'ok' && c.fix ? `\n    → ${c.fix}` : ''}`).join('\n')}\n`;
}

/** Answer the questions flags left open (interactive only); returns options that answer everything. An invalid answer is asked again. */
async function askOpenQuestions(opts: BootstrapOptions, io: Io, signal: AbortSignal): Promise<BootstrapOptions> {
  const ctx = await loadRunContext(opts, io, signal);
  if (!ctx.interactive) return opts;
  const answered: BootstrapOptions = { ...opts };
  if (!opts.source && !opts.sourceUrl) {
    const choice = await prompts.askSourceOrCustom(ctx.manifest.sources, (url) => {
      const c = classifySourceUrl(url, io.cwd);
      return 'error' in c ? `${c.error}: ${c.fix}` : true;
    });
    if (choice.url) answered.sourceUrl = choice.url;
    answered.source = choice.url ? 'custom' : choice.name;
  }
  if (!opts.hostDir) {
    answered.hostDir = await prompts.askHostDir(ctx.hostDir, async (dir) => {
      const c = await checkWritable(path.resolve(io.cwd, dir));
      return c.verdict === 'error' ? `${c.message} ${c.fix ?? ''}`.trim() : true;
    });
  }
  if (ctx.manifest.compose && !opts.services?.length) {
    const all = await listComposeServices(ctx.manifest.compose.files, { signal });
    const preselected = ctx.manifest.compose.services;
    answered.services = all.length > 1 ? await prompts.askServices([...new Set([...preselected, ...all])], preselected) : preselected;
  }
  if (ctx.manifest.compose && opts.smoke === undefined) {
    answered.smoke = await prompts.askRunSmoke();
  }
  return answered;
}

export async function runBootstrap(opts0: BootstrapOptions, io: Io, signal: AbortSignal): Promise<number> {
  // 1. what needs no answers, checked and shown before the first question (a blocking one stops here)
  const ctx0 = await loadRunContext(opts0, io, signal);
  const status = (text: string): void => {
    if (!ctx0.json) io.stderr.write(text);
  };
  const docker = await findSmokeEngine({ env: io.env, cwd: io.cwd });
  const early: PrereqCheck[] = [
    checkNode(),
    checkDocker(docker, opts0.smoke !== false && Boolean(ctx0.manifest.compose)),
    await checkWritable(ctx0.cacheDir).then((c) => ({ ...c, id: 'cache-dir', message: `store: ${c.message}` })),
  ];
  status(formatChecks(early));
  const stop = (checks: PrereqCheck[]): number | undefined => {
    const blocking = checks.find((c) => c.verdict === 'error');
    if (!blocking) return undefined;
    if (ctx0.json) io.stdout.write(`${JSON.stringify({ command: 'bootstrap', ok: false, checks }, null, 2)}\n`);
    return blocking.exitCode ?? ExitCode.usage;
  };
  const stoppedEarly = stop(early);
  if (stoppedEarly !== undefined) return stoppedEarly;

  // 2. every question, before any byte moves
  const opts = await askOpenQuestions(opts0, io, signal);
  const ctx = await loadRunContext(opts, io, signal);
  const selection = await chooseSelection(ctx, opts);
  const smokeWanted = opts.smoke !== false && Boolean(ctx.manifest.compose);
  const say = (text: string): void => {
    if (!ctx.json) io.stdout.write(text);
  };
  status(`Bootstrapping ${selection.artifacts.map((a) => a.id).join(', ')} into ${ctx.hostDir}\n`);

  // 3. checks that depend on the answers: the plan (a dry run, quiet) tells how much must move
  const quiet: Io = { ...io, stdout: new PassThrough(), stderr: new PassThrough(), isTTY: false };
  const runOpts: BootstrapOptions = { ...opts, only: selection.artifacts.map((a) => a.id), labels: undefined, source: selection.preferredSource ?? opts.source, yes: true };
  const dry = await runUpdate({ ...runOpts, dryRun: true, json: true }, quiet, signal);
  const sources = ctx.makeSources(selection.preferredSource ?? opts.source);
  const later = [
    await checkWritable(ctx.hostDir),
    await checkSpace([
      // the store holds the blobs (their temp files become the blobs: no extra copy); hardlinks cost the host folder nothing
      { dir: ctx.cacheDir, folder: 'cache', bytes: dry.plan.bytesToTransfer, what: 'the store' },
    ]),
  ];
  // probing the network is the slow check: only when it matters
  if (dry.plan.bytesToTransfer > 0 && !later.some((c) => c.verdict === 'error')) later.push(...(await checkSources(ctx.manifest, sources, io.env, signal)));
  status(formatChecks(later));
  const checks = [...early, ...later];
  const stopped = stop(checks);
  if (stopped !== undefined) return stopped;

  // 4. the work: update (+ override + smoke), then doctor
  const outcome = await runUpdate({ ...runOpts, json: ctx.json }, io, signal);
  say(formatUpdateSummary(outcome.report));
  if (!outcome.report.ok) {
    if (ctx.json) io.stdout.write(`${JSON.stringify({ command: 'bootstrap', ok: false, checks, update: outcome.report }, null, 2)}\n`);
    return outcome.exitCode;
  }
  // the Compose files and .env, read once for the update's steps and doctor
  const inputs = composeInputs({ signal });
  const post = await afterInstall(outcome, { ...runOpts, compose: true, smoke: smokeWanted }, io, signal, { found: docker, inputs });
  let findings: DoctorFinding[] = [];
  if (ctx.manifest.compose) {
    findings = await runDoctor(ctx.manifest, outcome.selection.artifacts, { engine: docker.compose ?? null, env: io.env, cwd: io.cwd, jobs: ctx.jobs, signal, inputs, $: (await loadShell())({ env: io.env }) });
    say(`\nDoctor:\n${formatFindings(findings.filter((f) => f.verdict !== 'ok'))}`);
  }
  const exitCode = post.exitCode || doctorExitCode(findings);
  const compose = 'commandLine' in post.report.compose ? post.report.compose : undefined;
  const next = compose ? `${compose.commandLine} up -d` : commandFor('verify');
  if (ctx.json) {
    io.stdout.write(
      `${JSON.stringify({ command: 'bootstrap', ok: exitCode === 0, checks, update: outcome.report, ...post.report, doctor: findings, next }, null, 2)}\n`,
    );
  } else {
    say(`\n${exitCode === 0 ? 'Done.' : 'Finished with problems (above).'} What is where:\n`);
    say(`  models:    ${ctx.hostDir}/<artifact id>/ (read-only files, verified)\n`);
    say(`  store:     ${ctx.cacheDir}\n`);
    if (compose) say(`  override:  ${compose.override} → ${ctx.manifest.compose!.services.join(', ')}\n`);
    say(`Next: ${next}\n`);
  }
  return exitCode;
}
