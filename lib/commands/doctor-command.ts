import { loadShell } from '../shell.ts';
import { defineCommand } from '../cli/command.ts';
import { doctorExitCode, runDoctor } from '../doctor/run-doctor.ts';
import type { DoctorFinding } from '../doctor/check.ts';
import { loadContext } from './context.ts';
import { installedSelection } from './installed-selection.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags } from './specs.ts';

const MARK: Record<DoctorFinding['verdict'], string> = { ok: '✔', warn: '⚠', error: '✖' };

/**
 * A finding's id names the problem its check looks for ("require-violated"): right for a warning,
 * an error and --json, wrong on a pass. A pass line names what was checked instead.
 */
const PASS_NAMES: Record<string, string> = {
  'compose-engine-missing': 'compose-engine',
  'dockerignore-excludes-artifacts': 'dockerignore',
  'mount-missing': 'mounts',
  'mount-writable': 'mounts-read-only',
  'mount-source-mismatch': 'mount-sources',
  'mount-source-unverified': 'mount-sources-verified',
  'env-mismatch': 'env',
  'symlink-escapes': 'symlinks',
  'override-stale': 'override-current',
  'override-not-included': 'override-included',
  'require-violated': 'require',
};

/** With `verbose`, a pass also says what it looked at (its message). */
export function formatFindings(findings: readonly DoctorFinding[], opts: { verbose?: boolean } = {}): string {
  const lines = findings.map((f) => {
    const where = f.file ? ` (${f.file}${f.line ? `:${f.line}` : ''})` : '';
    const name = f.verdict === 'ok' ? (PASS_NAMES[f.id] ?? f.id) : f.id;
    return `${MARK[f.verdict]} ${name}: ${f.title}${where}${f.verdict === 'ok' ? (opts.verbose ? `\n    ${f.message.split('\n').join('\n    ')}` : '') : `\n    ${f.message.split('\n').join('\n    ')}${f.fix ? `\n    → ${f.fix.split('\n').join('\n      ')}` : ''}`}`;
  });
  const errors = findings.filter((f) => f.verdict === 'error').length;
  const warns = findings.filter((f) => f.verdict === 'warn').length;
  return `${lines.join('\n')}\n${errors ? 'FAILED' : 'OK'}: ${errors} error${errors === 1 ? '' : 's'}, ${warns} warning${warns === 1 ? '' : 's'}.\n`;
}

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'check .dockerignore, Compose mounts, env vars, host folders and the override for the "models not mounted" failure',
  usage: 'modelmount doctor [--full] [--json]',
  flags: [
    { name: 'full', type: 'boolean', help: 're-hash the host files instead of trusting the verified-state cache' },
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'jobs'),
    JSON_FLAG,
  ],
  details: 'Checks the installed set (what update installed; before the first update, every non-optional artifact): what the override mounts. Each finding has an id, a verdict (ok / warn / error), the file and line that cause it, and the fix. Exit 7 when any error is found.',
  async run(flags, io) {
    const ctx = await loadContext(flags, io);
    const artifacts = await installedSelection(ctx, flags);
    const findings = await runDoctor(ctx.manifest, artifacts, { env: io.env, cwd: io.cwd, full: flags.full, jobs: ctx.jobs, $: (await loadShell())({ env: io.env }) });
    const exitCode = doctorExitCode(findings);
    if (ctx.json) io.stdout.write(`${JSON.stringify({ command: 'doctor', ok: exitCode === 0, artifacts: artifacts.map((a) => a.id), findings }, null, 2)}\n`);
    else io.stdout.write(formatFindings(findings, { verbose: flags.verbose }));
    return exitCode;
  },
});
