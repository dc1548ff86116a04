/** How a plan is shown: a table for people (--dry-run), a JSON object for machines. */
import type { Plan } from '../plan.ts';
import { formatBytes } from '../ui/format.ts';

export function planToJson(plan: Plan) {
  return {
    counts: plan.counts,
    bytesToTransfer: plan.bytesToTransfer,
    bytesToInstall: plan.bytesToInstall,
    files: plan.files.map((f) => ({
      artifactId: f.artifactId,
      path: f.path,
      size: f.size,
      sha256: f.sha256,
      action: f.action,
      ...(f.via ? { via: f.via } : {}),
      reason: f.reason,
    })),
  };
}

export function formatPlan(plan: Plan, title = 'Plan (dry run, nothing changed):'): string {
  const rows = plan.files.map((f) => `  ${f.action.padEnd(6)}  ${`${f.artifactId}/${f.path}`.padEnd(48)} ${formatBytes(f.size).padStart(10)}  ${f.reason}`);
  const c = plan.counts;
  return [
    title,
    ...rows,
    `  ${c.skip} skip, ${c.fetch} fetch, ${c.copy} copy, ${c.relink} relink, ${c.repair} repair; ${formatBytes(plan.bytesToTransfer)} to transfer.`,
    '',
  ].join('\n');
}
