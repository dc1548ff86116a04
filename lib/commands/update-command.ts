import { defineCommand } from '../cli/command.ts';
import { JSON_FLAG, LOCATION_FLAGS, SELECTION_FLAGS, WAIT_FLAG } from './specs.ts';
import { formatUpdateSummary, runUpdate } from './update.ts';
import { afterInstall, POST_INSTALL_FLAGS } from './post-install.ts';
import { formatExamples, commandFor } from '../invocation.ts';
import { APPLY_FLAG } from './apply-command.ts';

/** on update, selection adds to what is installed */
const ADDS: Record<string, string> = {
  only: 'artifact ids to add to what is installed, comma-separated or repeated (e.g. student/v0_ja); the same as ID arguments',
  labels: 'add the artifacts with these labels, e.g. lang=ja or lang=ja,en (repeatable; keys AND, values OR)',
  'include-optional': 'also add the optional artifacts',
};

export const updateCommand = defineCommand({
  name: 'update',
  summary: 'download or copy, verify and install the selected artifacts (then write the Compose override and smoke-test)',
  usage: 'modelmount update [ID...] [--only IDS] [--labels K=V] [--include-optional] [--prune] [--source NAME] [--yes] [--dry-run] [--json]',
  operands: 'artifacts',
  flags: [
    ...SELECTION_FLAGS.map((f) => ({ ...f, help: ADDS[f.name] ?? f.help })),
    {
      name: 'prune',
      type: 'boolean',
      help: 'make the installed set exactly the selection: installed artifacts not selected leave the override (asks first; --yes confirms; refused if it breaks a require rule)',
    },
    ...LOCATION_FLAGS,
    { name: 'dry-run', type: 'boolean', help: 'print the plan (skip/fetch/copy/relink/repair per file) and change nothing' },
    { name: 'offline', type: 'boolean', env: 'MODELS_OFFLINE', help: 'install from the store only; fail (exit 3) naming what is missing' },
    ...POST_INSTALL_FLAGS,
    APPLY_FLAG,
    WAIT_FLAG,
    JSON_FLAG,
  ],
  get details() {
    return `Selection adds to what is installed: \`update student/v0_ja\` (or --only, --labels,
--include-optional) installs that artifact and keeps every installed one mounted. Without any
selection: every non-optional artifact, plus what is installed. Only --prune removes installed
artifacts from the override; their folders stay on the host until \`gc\`.

Examples:\n${formatExamples([
      [commandFor('update'), 'interactive on a terminal, safe defaults elsewhere'],
      [commandFor('update', '--yes --labels lang=ja'), 'unattended: add the Japanese models'],
      [commandFor('update', 'student/v0_en'), 'add the English student, keep the rest'],
      [commandFor('update', '--prune --labels lang=ja'), 'Japanese models only: asks before unmounting the rest'],
      [commandFor('update', '--dry-run'), 'show what would happen'],
      [commandFor('update', '--yes --apply'), 'then recreate the services on the new release set'],
    ])}`;
  },
  async run(flags, io, signal) {
    const outcome = await runUpdate(flags, io, signal);
    const { report } = outcome;
    if (!outcome.ctx.json && !report.dryRun) io.stdout.write(formatUpdateSummary(report));
    let exitCode = outcome.exitCode;
    let post: Awaited<ReturnType<typeof afterInstall>> | undefined;
    if (!report.dryRun && report.ok) {
      post = await afterInstall(outcome, flags, io, signal);
      if (post.exitCode !== 0) exitCode = post.exitCode;
    }
    if (outcome.ctx.json) {
      // the smoke report is already under `smoke`: the error names code, message and fix only
      const errors = post?.error ? [...report.errors, { code: post.error.code, message: post.error.message, hint: post.error.hint }] : report.errors;
      io.stdout.write(`${JSON.stringify({ ...report, ok: report.ok && exitCode === 0, errors, ...(post?.report ?? {}) }, null, 2)}\n`);
    }
    return exitCode;
  },
});
