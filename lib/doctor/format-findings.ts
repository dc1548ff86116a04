/** Doctor findings for people: one line per finding, the problem and its fix under it, a total. */
import type { DoctorFinding } from './check.ts';

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
  'compose-file-mismatch': 'compose-file',
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
