/** status's table for people, and the lines under it. */
import { commandFor } from '../invocation.ts';
import { formatBytes } from '../ui/format.ts';
import type { StatusReport } from './report.ts';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatStatus(r: StatusReport): string {
  const rows = [['ARTIFACT', 'SELECTED', 'INSTALLED', 'SIZE', 'SOURCE', 'OVERRIDE', 'CONTAINERS']];
  for (const a of r.artifacts) {
    const installed = a.installed === 'verified' || a.installed === 'missing' ? a.installed : `${a.installed} (${a.problems.length} file${a.problems.length === 1 ? '' : 's'})`;
    const override = a.override === null ? '-' : a.override.mounted ? 'mounted' : a.override.services.length ? `partly (${a.override.services.join(',')})` : 'no';
    const containers =
      a.containers === null ? '-' : a.containers.length === 0 ? 'none running' : a.containers.map((c) => `${c.name}: ${c.mounted ? (c.readOnly ? 'mounted ro' : 'mounted RW') : 'NOT mounted'}`).join(', ');
    rows.push([a.id, a.selected ? 'yes' : 'no', installed, formatBytes(a.size), a.source ?? '-', override, containers]);
  }
  const lines = [table(rows), ''];
  for (const p of r.problems) lines.push(`✖ ${p.message}${p.hint ? `\n  → ${p.hint}` : ''}`);
  if (r.problems.length) lines.push('  (the table above does without them: every file hashed, the manifest\'s defaults taken as the installed set)', '');
  lines.push(`Host folder: ${r.hostDir}${r.full ? ' (every file re-hashed)' : ' (verified-state cache; --full re-hashes)'}`);
  if (r.override) lines.push(`Override: ${r.override.path}${r.override.exists ? '' : ` (not written yet: ${commandFor('update')} writes it)`}`);
  lines.push(`Containers: ${r.docker.detail}`);
  if (r.releases.current) lines.push(`Release set: ${r.releases.current.slice(0, 12)} (current); kept: ${r.releases.sets.filter((x) => !x.current).map((x) => x.digest.slice(0, 12)).join(', ') || 'none'}`);
  for (const c of r.containers ?? []) {
    lines.push(`  ${c.name} (${c.service}, ${c.state}): set ${c.set ? c.set.slice(0, 12) : '-'} ${c.current === null ? '' : c.current ? 'current' : `OUTDATED (${commandFor('apply')})`}`.trimEnd());
  }
  for (const a of r.artifacts) for (const p of a.problems) if (p.status !== 'missing') lines.push(`  ✖ ${a.id}/${p.path}: ${p.status}`);
  const wrong = r.artifacts.filter((a) => a.selected && !a.verified);
  if (wrong.length) lines.push(`  → run \`${commandFor('update')}\` to install or repair ${wrong.map((a) => a.id).join(', ')}.`);
  for (const o of r.otherManifests) if (o.artifacts.length) lines.push(`Also in this host folder, installed for ${o.manifest}: ${o.artifacts.join(', ')}.`);
  if (r.unlisted.length) lines.push(`Installed but no longer in the manifest: ${r.unlisted.join(', ')} (\`${commandFor('gc')}\` removes what nothing references).`);
  return `${lines.join('\n')}\n`;
}
