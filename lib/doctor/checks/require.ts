/** require-violated: the manifest's `require` rules against the verified installed artifacts. */
import { commandFor } from '../../invocation.ts';
import { locateKey } from '../locate.ts';
import { OUTAGE_SYMPTOM, plural, type DoctorContext, type DoctorFinding } from '../check.ts';

export async function checkRequire(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const findings: DoctorFinding[] = [];
  const okIds = new Set(ctx.sources.filter((s) => s.state === 'ok').map((s) => s.artifactId));
  const installed = new Set(Object.keys(ctx.record?.artifacts ?? {}));
  const mounted = (id: string) => okIds.has(id) && installed.has(id);
  for (const [i, rule] of ctx.manifest.require.entries()) {
    if (rule.anyOf.some(mounted)) continue;
    const loc = await locateKey(ctx.manifest.path, ['require', i], { signal: ctx.signal });
    const state = rule.anyOf
      .map((id) => `${id}: ${!ctx.selected.some((a) => a.id === id) ? 'not selected' : !installed.has(id) ? 'not installed' : 'installed but its folder does not verify'}`)
      .join('; ');
    findings.push({
      id: 'require-violated',
      verdict: 'error',
      title: `None of ${rule.anyOf.join(', ')} is installed`,
      ...(loc ?? { file: ctx.manifest.path }),
      message: `The manifest requires at least one of ${rule.anyOf.join(', ')} (${state}). The app cannot start without one (e.g. \`${OUTAGE_SYMPTOM}\`).`,
      fix: `Install at least one of them: \`${commandFor('update', `--only ${rule.anyOf[0]}`)}\` adds it to what is installed (every installed artifact stays mounted).`,
    });
  }
  if (findings.length === 0) {
    findings.push({ id: 'require-violated', verdict: 'ok', title: 'Every rule is satisfied', message: `${plural(ctx.manifest.require.length, 'rule')} checked against the verified installed artifacts.` });
  }
  return findings;
}
