/**
 * What `update` runs: the update, its summary, then (after a successful install) the Compose
 * override and the smoke test, or --apply; one JSON document with all of it under --json.
 */
import { composeInputs } from '../compose/compose-inputs.ts';
import type { Io } from '../io.ts';
import { refuseApplyComposeFiles } from '../releases/run-apply.ts';
import { afterInstall, type PostInstallOptions } from './post-install.ts';
import { formatUpdateSummary } from './report.ts';
import { runUpdate, type UpdateOptions } from './run-update.ts';

export async function updateAndDeploy(opts: UpdateOptions & PostInstallOptions, io: Io, signal: AbortSignal): Promise<number> {
  // the Compose files and .env, read once for the whole run
  const inputs = composeInputs({ signal });
  // --apply with a COMPOSE_FILE apply would refuse: refused before anything is installed or switched
  const composeFileChecked = Boolean(opts.apply && opts.compose && !opts.dryRun);
  const outcome = await runUpdate(opts, io, signal, async (ctx) => {
    if (composeFileChecked) await refuseApplyComposeFiles(ctx.manifest, io, 'update', inputs);
  });
  const { report } = outcome;
  if (!outcome.ctx.json && !report.dryRun) io.stdout.write(formatUpdateSummary(report));
  let exitCode = outcome.exitCode;
  let post: Awaited<ReturnType<typeof afterInstall>> | undefined;
  if (!report.dryRun && report.ok) {
    post = await afterInstall(outcome, opts, io, signal, { inputs, composeFileChecked });
    if (post.exitCode !== 0) exitCode = post.exitCode;
  }
  if (outcome.ctx.json) {
    // the smoke report is already under `smoke`: the error names code, message and fix only
    const errors = post?.error ? [...report.errors, { code: post.error.code, message: post.error.message, hint: post.error.hint }] : report.errors;
    io.stdout.write(`${JSON.stringify({ ...report, ok: report.ok && exitCode === 0, errors, ...(post?.report ?? {}) }, null, 2)}\n`);
  }
  return exitCode;
}
