/** mount-missing, mount-writable, mount-duplicate, mount-source-mismatch, env-mismatch: what the merged Compose config mounts. */
import { commandFor } from '../../invocation.ts';
import { locateEnv, locateService, locateVolume } from '../locate.ts';
import type { MountProblem } from '../../compose/check-merged-mounts.ts';
import { composeFileOnlyProblems, plural, updateFix, type DoctorContext, type DoctorFinding } from '../check.ts';

/** `${service}\0${artifactId}` for every artifact a service's build context excludes. */
function excludedPairs(ctx: DoctorContext): Set<string> {
  const pairs = new Set<string>();
  for (const bc of ctx.ignoreVerdicts) {
    for (const { artifact } of bc.excluded) for (const s of bc.services) pairs.add(`${s}\0${artifact.id}`);
  }
  return pairs;
}

const ids = { missing: 'mount-missing', writable: 'mount-writable', mismatch: 'mount-source-mismatch', env: 'env-mismatch' };

/** One finding per problem of the config merged from `files`; `prefix` says which list that was when not the manifest's. */
async function problemFindings(ctx: DoctorContext, problems: readonly MountProblem[], files: readonly string[], prefix = ''): Promise<DoctorFinding[]> {
  const excluded = excludedPairs(ctx);
  const read = { signal: ctx.signal };
  const findings: DoctorFinding[] = [];
  const seen = new Set<string>();
  for (const p of problems.map((q) => ({ ...q, message: `${prefix}${q.message}` }))) {
    switch (p.kind) {
      case 'service-missing':
      case 'not-mounted':
      case 'not-bind': {
        if (p.kind === 'not-mounted' && excluded.has(`${p.service}\0${p.artifactId}`)) break; // reported by dockerignore-excludes-artifacts
        const loc = p.kind === 'service-missing' ? undefined : await locateService(files, p.service, read);
        findings.push({
          id: ids.missing,
          verdict: 'error',
          title: `${p.artifactId} is not mounted in ${p.service}`,
          ...loc,
          message: `${p.message} The container gets whatever its image happens to hold, which modelmount cannot vouch for.`,
          fix: p.kind === 'service-missing' ? `Check \`compose.services\` in ${ctx.manifest.path}: ${p.service} must be a service of ${ctx.compose.files.join(', ')}.` : updateFix(ctx),
        });
        break;
      }
      case 'writable': {
        const key = `w:${p.service}:${p.mount?.target}`;
        if (seen.has(key)) break;
        seen.add(key);
        const loc = p.mount ? await locateVolume(files, p.service, p.mount.target, read) : undefined;
        findings.push({
          id: ids.writable,
          verdict: 'error',
          title: `${p.artifactId} is mounted writable in ${p.service}`,
          ...loc,
          message: p.message,
          fix: loc && loc.file !== ctx.compose.override
            ? `Make that volume read-only (\`:ro\` or \`read_only: true\`), or remove it and let the override mount ${p.target}.`
            : `Regenerate the override with \`${commandFor('compose')}\`.`,
        });
        break;
      }
      case 'duplicate-mount': {
        // point at the user's entry, not at the override's
        const loc = (await locateVolume(files.filter((f) => f !== ctx.compose.override), p.service, p.target, read)) ?? (await locateVolume(files, p.service, p.target, read));
        findings.push({
          id: 'mount-duplicate',
          verdict: 'error',
          title: `${p.artifactId} is mounted twice in ${p.service}`,
          ...loc,
          message: p.message,
          fix: `Remove the other volume at ${p.target} (often the same path with a trailing "/"): the override mounts it.`,
        });
        break;
      }
      case 'source-mismatch': {
        const loc = p.mount ? await locateVolume(files, p.service, p.mount.target, read) : undefined;
        findings.push({
          id: ids.mismatch,
          verdict: 'error',
          title: `${p.artifactId} is mounted from another folder in ${p.service}`,
          ...loc,
          message: p.message,
          fix: `Remove that volume, or make it mount ${p.expectedSource}; then regenerate the override with \`${commandFor('compose')}\`.`,
        });
        break;
      }
      case 'env-missing':
      case 'env-mismatch': {
        const loc = p.env ? (await locateEnv(files, p.service, p.env, read)) ?? (await locateService(files, p.service, read)) : undefined;
        findings.push({
          id: ids.env,
          // missing: the app may fall back to its own default path; pointing elsewhere is wrong for sure
          verdict: p.kind === 'env-mismatch' ? 'error' : 'warn',
          title: `${p.env} does not point at ${p.artifactId} in ${p.service}`,
          ...loc,
          message: p.kind === 'env-mismatch'
            ? `${p.message} The app would look for the model where it is not mounted.`
            : `${p.message} Unless the app's default path is exactly that, it will not find the model.`,
          fix: p.kind === 'env-mismatch'
            ? `Remove ${p.env} from that file (the override sets it), or set it to ${p.target}.`
            : updateFix(ctx),
        });
        break;
      }
    }
  }
  return findings;
}

export async function checkMergedMountFindings(ctx: DoctorContext): Promise<DoctorFinding[]> {
  if (!ctx.merged) return [];
  const findings = await problemFindings(ctx, ctx.mountProblems, ctx.configFiles);
  const theirs = ctx.composeFile;
  if (theirs) findings.push(...(await problemFindings(ctx, composeFileOnlyProblems(ctx), theirs.setting.files, `With ${theirs.setting.from} (${theirs.setting.value}), the files a plain \`docker compose\` reads: `)));
  // ok findings only claim what was actually checked
  const reported = new Set(findings.map((f) => f.id));
  const uncovered = new Set(ctx.mountProblems.filter((p) => p.kind === 'not-mounted' || p.kind === 'service-missing' || p.kind === 'not-bind').map((p) => p.artifactId));
  const mounted = ctx.selected.filter((a) => !uncovered.has(a.id)).length;
  const of = `${mounted} of ${plural(ctx.selected.length, 'selected artifact')} mounted`;
  const ok = (id: string, title: string, message: string) => {
    if (!reported.has(id)) findings.push({ id, verdict: 'ok', title, message });
  };
  if (uncovered.size === 0) ok(ids.missing, `Every selected artifact is mounted in ${ctx.compose.services.join(', ')}`, `${of}, per the merged Compose config.`);
  if (mounted > 0) {
    ok(ids.writable, 'Every artifact mount is read-only', `${of}; each of those mounts is read-only.`);
    ok(ids.mismatch, 'Every artifact mount comes from its verified host folder', `${of}; each comes from its folder under ${ctx.manifest.hostDir}.`);
  }
  if (ctx.selected.some((a) => a.env)) ok(ids.env, 'Every artifact env variable points at its mount target', 'Checked in the merged Compose config.');
  return findings;
}
