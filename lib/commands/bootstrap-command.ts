/**
 * `npm run bootstrap`: a new environment, start to finish. Check what can be
 * checked, ask what is not answered by flags (all before any byte moves), then
 * update → override → smoke → doctor, and say what is where and what to run next.
 * Every question has a flag, so `bootstrap --yes …` runs unattended; on a
 * bootstrapped host it changes nothing.
 */
import path from 'node:path';
import { readRegularFile } from '../fs-safe.ts';
import { parse as parseYaml } from 'yaml';
import type { FlagSpec } from '../cli/args.ts';
import { defineCommand, type CommandFlags } from '../cli/command.ts';
import { doctorExitCode, runDoctor } from '../doctor/run-doctor.ts';
import type { DoctorFinding } from '../doctor/check.ts';
import { ExitCode } from '../errors.ts';
import { checkDocker, checkNode, checkSources, checkSpace, checkWritable, type PrereqCheck } from '../bootstrap/prereqs.ts';
import { findSmokeEngine } from '../smoke/engine.ts';
import * as prompts from '../ui/prompts.ts';
import { loadShell } from '../shell.ts';
import { classifySourceUrl } from '../manifest/source-url.ts';
import { loadContext, type Io } from './context.ts';
import { formatFindings } from './doctor-command.ts';
import { afterInstall, POST_INSTALL_FLAGS } from './post-install.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, SELECTION_FLAGS, SERVICES_FLAG, WAIT_FLAG } from './specs.ts';
import { chooseSelection, formatUpdateSummary, runUpdate } from './update.ts';
import { PassThrough } from 'node:stream';
import { commandFor, formatExamples } from '../invocation.ts';

const MARK = { ok: '✔', warn: '⚠', error: '✖' } as const;

const BOOTSTRAP_FLAGS = [
  ...SELECTION_FLAGS,
  ...LOCATION_FLAGS,
  SERVICES_FLAG,
  ...pickFlags(POST_INSTALL_FLAGS, 'smoke', 'full'),
  WAIT_FLAG,
  JSON_FLAG,
] as const satisfies readonly FlagSpec[];

type BootstrapFlags = CommandFlags<(typeof BOOTSTRAP_FLAGS)[number]>;

/** Services defined in the project's base Compose files (for the "which services?" question). */
export async function listComposeServices(files: string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const f of files) {
    try {
      const doc = parseYaml(await readRegularFile(f)) as { services?: Record<string, unknown> } | null;
      for (const name of Object.keys(doc?.services ?? {})) names.add(name);
    } catch {
      // unreadable here: doctor reports Compose file problems with their lines
    }
  }
  return [...names];
}

function formatChecks(checks: PrereqCheck[]): string {
  return `${checks.map((c) => `${MARK[c.verdict]} ${c.message}${c.verdict !== 'ok' && c.fix ? `\n    → ${c.fix}` : ''}`).join('\n')}\n`;
}

/** Answer the questions flags left open (interactive only); returns flags that answer everything. An invalid answer is asked again. */
async function askOpenQuestions(flags: BootstrapFlags, io: Io): Promise<BootstrapFlags> {
  const ctx = await loadContext(flags, io);
  if (!ctx.interactive) return flags;
  const answered: BootstrapFlags = { ...flags };
  if (!flags.source && !flags['source-url']) {
    const choice = await prompts.askSourceOrCustom(ctx.manifest.sources, (url) => {
      const c = classifySourceUrl(url, io.cwd);
      return 'error' in c ? `${c.error}: ${c.fix}` : true;
    });
    if (choice.url) answered['source-url'] = choice.url;
    answered.source = choice.url ? 'custom' : choice.name;
  }
  if (!flags['host-dir']) {
    answered['host-dir'] = await prompts.askHostDir(ctx.hostDir, async (dir) => {
      const c = await checkWritable(path.resolve(io.cwd, dir));
      return c.verdict === 'error' ? `${c.message} ${c.fix ?? ''}`.trim() : true;
    });
  }
  if (ctx.manifest.compose && !flags.services?.length) {
    const all = await listComposeServices(ctx.manifest.compose.files);
    const preselected = ctx.manifest.compose.services;
    answered.services = all.length > 1 ? await prompts.askServices([...new Set([...preselected, ...all])], preselected) : preselected;
  }
  if (ctx.manifest.compose && !flags.given.has('smoke')) {
    answered.smoke = await prompts.askRunSmoke();
  }
  return answered;
}

export const bootstrapCommand = defineCommand({
  name: 'bootstrap',
  operands: 'artifacts',
  summary: 'set up a new environment: check prerequisites, ask, install, write the override, smoke-test, doctor',
  usage: 'modelmount bootstrap [ID...] [--yes] [--labels K=V] [--source NAME | --source-url URL] [--host-dir DIR] [--services S] [--no-smoke]',
  flags: BOOTSTRAP_FLAGS,
  get details() {
    return `Examples:\n${formatExamples([
      [commandFor('bootstrap'), 'asks every question on a terminal'],
      [commandFor('bootstrap', '--yes --labels lang=ja --no-smoke'), 'unattended'],
    ])}`;
  },
  async run(flags0, io, signal) {
    // 1. what needs no answers, checked and shown before the first question (a blocking one stops here)
    const ctx0 = await loadContext(flags0, io);
    const status = (text: string): void => {
      if (!ctx0.json) io.stderr.write(text);
    };
    const docker = await findSmokeEngine({ env: io.env, cwd: io.cwd });
    const early: PrereqCheck[] = [
      checkNode(),
      checkDocker(docker, flags0.smoke !== false && Boolean(ctx0.manifest.compose)),
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
    const flags = await askOpenQuestions(flags0, io);
    const ctx = await loadContext(flags, io);
    const selection = await chooseSelection(ctx, flags);
    const smokeWanted = flags.smoke !== false && Boolean(ctx.manifest.compose);
    const say = (text: string): void => {
      if (!ctx.json) io.stdout.write(text);
    };
    status(`Bootstrapping ${selection.artifacts.map((a) => a.id).join(', ')} into ${ctx.hostDir}\n`);

    // 3. checks that depend on the answers: the plan (a dry run, quiet) tells how much must move
    const quiet: Io = { ...io, stdout: new PassThrough(), stderr: new PassThrough(), isTTY: false };
    const runFlags = { ...flags, only: selection.artifacts.map((a) => a.id), labels: undefined, source: selection.preferredSource ?? flags.source, yes: true };
    const dry = await runUpdate({ ...runFlags, 'dry-run': true, json: true }, quiet, signal);
    const sources = ctx.makeSources(selection.preferredSource ?? flags.source);
    const later = [
      await checkWritable(ctx.hostDir),
      await checkSpace([
        // the store holds the blobs (their temp files become the blobs: no extra copy); hardlinks cost the host folder nothing
        { dir: ctx.cacheDir, bytes: dry.plan.bytesToTransfer, what: 'the store' },
      ]),
    ];
    // probing the network is the slow check: only when it matters
    if (dry.plan.bytesToTransfer > 0 && !later.some((c) => c.verdict === 'error')) later.push(...(await checkSources(ctx.manifest, sources, io.env, signal)));
    status(formatChecks(later));
    const checks = [...early, ...later];
    const stopped = stop(checks);
    if (stopped !== undefined) return stopped;

    // 4. the work: update (+ override + smoke), then doctor
    const outcome = await runUpdate({ ...runFlags, json: ctx.json }, io, signal);
    say(formatUpdateSummary(outcome.report));
    if (!outcome.report.ok) {
      if (ctx.json) io.stdout.write(`${JSON.stringify({ command: 'bootstrap', ok: false, checks, update: outcome.report }, null, 2)}\n`);
      return outcome.exitCode;
    }
    const post = await afterInstall(outcome, { ...runFlags, compose: true, smoke: smokeWanted }, io, signal, docker);
    let findings: DoctorFinding[] = [];
    if (ctx.manifest.compose) {
      findings = await runDoctor(ctx.manifest, outcome.selection.artifacts, { engine: docker.compose ?? null, env: io.env, cwd: io.cwd, jobs: ctx.jobs, $: (await loadShell())({ env: io.env }) });
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
  },
});
