/** The smoke report for people: one line per service, its failures and warnings, the app's output once. */
import type { SmokeReport } from './report.ts';

export function formatSmoke(report: SmokeReport): string {
  const lines: string[] = [];
  for (const s of report.services) {
    lines.push(`${s.failures.length ? '✖' : '✔'} ${s.service}: step 1 (files in the container) ${s.check.status}${s.command ? `, step 2 (smoke command) ${s.command.status}` : ', no smoke.command in the manifest'}`);
    // first line of each failure; the app's output is shown once, below
    for (const f of s.failures) lines.push(`    ✖ ${f.message.split('\n')[0]!.replace(/:$/, '')}`);
    for (const w of s.warnings) lines.push(`    ⚠ ${w}`);
    if (s.command && s.command.status !== 'passed' && s.command.outputTail.length) lines.push(...s.command.outputTail.map((t) => `    | ${t}`));
  }
  lines.push(`${report.ok ? 'OK' : 'FAILED'}: smoke test in ${(report.durationMs / 1000).toFixed(1)} s with ${report.engine.command.join(' ')} ${report.engine.fullVersion}.`);
  return `${lines.join('\n')}\n`;
}
