/**
 * Check the merged config Compose reports: every artifact mounted read-only at its target from the
 * expected host folder, with its env variable pointing there, in every listed service.
 */
import path from 'node:path';
import type { Shell } from 'zx';
import { ComposeError } from '../errors.ts';
import { containerPathOf } from '../layout.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import { composeInputs, type ComposeInputs } from './compose-inputs.ts';
import type { ComposeEngine } from './engine.ts';
import { composeFilesWithOverride, composeSettingsOf, mountSourceOf, type ReleaseMounts } from './override.ts';
import { commandFor } from '../invocation.ts';
import { samePath } from '../path-inside.ts';
import { cleanContainerPath, parseComposeConfig, type MergedConfig, type MergedMount } from './parse-config.ts';
import { profileArgs, runComposeConfig } from './run-config.ts';

export type MountProblemKind =
  | 'service-missing'
  | 'not-mounted'
  | 'not-bind'
  | 'duplicate-mount'
  | 'writable'
  | 'source-mismatch'
  | 'env-missing'
  | 'env-mismatch';

export interface MountProblem {
  kind: MountProblemKind;
  service: string;
  artifactId: string;
  message: string;
  /** container path the artifact must be at */
  target: string;
  /** the host folder it must come from */
  expectedSource: string;
  /** the mount that covers the target, when there is one */
  mount?: MergedMount;
  env?: string;
  actualEnv?: string;
}

/**
 * The mount that provides `target` inside the container: an exact mount, else
 * the deepest mount of a parent folder (Docker mounts the most specific path
 * last, so it wins). Undefined when nothing covers it.
 */
export function findCoveringMount(mounts: readonly MergedMount[], target: string): { mount: MergedMount; rest: string } | undefined {
  const t = cleanContainerPath(target);
  let best: { mount: MergedMount; rest: string; depth: number } | undefined;
  for (const m of mounts) {
    if (!m.target) continue;
    const mt = cleanContainerPath(m.target);
    let rest: string | undefined;
    if (mt === t) rest = '';
    else if (mt === '/' ) rest = t.slice(1);
    else if (t.startsWith(`${mt}/`)) rest = t.slice(mt.length + 1);
    if (rest === undefined) continue;
    const depth = mt === '/' ? 0 : mt.split('/').length;
    // later entries win over earlier ones at the same depth (Compose keeps one per target anyway)
    if (!best || depth >= best.depth) best = { mount: m, rest, depth };
  }
  return best && { mount: best.mount, rest: best.rest };
}

/**
 * Every way the merged config fails to give the listed services the artifacts:
 * not mounted at the target, mounted writable, mounted from another host
 * folder, or the env variable missing/pointing elsewhere. Empty = all good.
 */
export function checkMergedMounts(parsed: MergedConfig, manifest: Manifest, artifacts: readonly Artifact[], releases?: ReleaseMounts): MountProblem[] {
  const compose = composeSettingsOf(manifest);
  const problems: MountProblem[] = [];
  for (const service of compose.services) {
    const svc = parsed.get(service);
    for (const a of artifacts) {
      const target = containerPathOf(compose.containerDir, a.id);
      const expectedSource = mountSourceOf(manifest, a.id, releases);
      const base = { service, artifactId: a.id, target, expectedSource };
      if (!svc) {
        problems.push({ ...base, kind: 'service-missing', message: `Service ${service} is not in the merged Compose config, so ${a.id} cannot be mounted into it.` });
        continue;
      }
      const same = svc.mounts.filter((m) => m.target && cleanContainerPath(m.target) === cleanContainerPath(target));
      if (same.length > 1) {
        problems.push({
          ...base,
          kind: 'duplicate-mount',
          message: `${service} has ${same.length} mounts at ${target} (${same.map((m) => `"${m.target}" from ${m.source || m.type}`).join(', ')}): Compose only merges entries whose target is written identically, so Docker gets both (docker-compose v1 fails with "Duplicate mount points").`,
        });
      }
      const cover = findCoveringMount(svc.mounts, target);
      if (!cover) {
        problems.push({ ...base, kind: 'not-mounted', message: `${a.id} is not mounted at ${target} in ${service}.` });
      } else {
        const { mount, rest } = cover;
        const where = rest === '' ? `at ${target}` : `through the mount of ${mount.target}`;
        if (mount.type !== 'bind') {
          problems.push({ ...base, kind: 'not-bind', mount, message: `${a.id} in ${service} comes from a ${mount.type}${mount.source ? ` "${mount.source}"` : ''} ${where}, not from the verified host folder ${expectedSource}.` });
        } else {
          const actualSource = rest === '' ? mount.source : path.join(mount.source, ...rest.split('/'));
          if (!samePath(actualSource, expectedSource)) {
            problems.push({ ...base, kind: 'source-mismatch', mount, message: `${a.id} in ${service} is mounted ${where} from ${actualSource}, not from the verified host folder ${expectedSource}.` });
          }
          if (!mount.readOnly) {
            problems.push({ ...base, kind: 'writable', mount, message: `${a.id} is mounted writable ${where} in ${service}: the container could change the verified files.` });
          }
        }
      }
      if (a.env) {
        const actual = svc.environment[a.env];
        if (actual === undefined) {
          problems.push({ ...base, kind: 'env-missing', env: a.env, message: `${a.env} is not set in ${service}; it should be ${target}.` });
        } else if (cleanContainerPath(actual) !== cleanContainerPath(target)) {
          problems.push({ ...base, kind: 'env-mismatch', env: a.env, actualEnv: actual, message: `${a.env} is ${actual} in ${service}, but ${a.id} is mounted at ${target}.` });
        }
      }
    }
  }
  return problems;
}

/**
 * `models:compose` validation: merge the base files with the override through
 * the real engine and require every artifact to be mounted read-only at its
 * target, from its verified host folder, with its env variable, in every
 * listed service. Returns the merged config; throws a ComposeError listing
 * every problem otherwise. `inputs`: the run's reads of the Compose files and .env (default: a
 * new one, under `signal`).
 */
export async function validateMergedConfig(
  manifest: Manifest,
  artifacts: readonly Artifact[],
  opts: { engine: Pick<ComposeEngine, 'command'>; $: Shell; env: NodeJS.ProcessEnv; cwd?: string; releases?: ReleaseMounts; signal?: AbortSignal; inputs?: ComposeInputs },
): Promise<MergedConfig> {
  const compose = composeSettingsOf(manifest);
  const files = composeFilesWithOverride(compose);
  const inputs = opts.inputs ?? composeInputs({ signal: opts.signal });
  const profiles = await profileArgs(inputs, files, compose.services, opts.env);
  const text = await runComposeConfig(opts.engine, files, { cwd: opts.cwd ?? path.dirname(files[0]!), $: opts.$, env: opts.env, profileArgs: profiles, signal: opts.signal });
  const parsed = parseComposeConfig(text);
  const problems = checkMergedMounts(parsed, manifest, artifacts, opts.releases);
  if (problems.length > 0) {
    throw new ComposeError(
      `Compose does not give the services the verified models, even with the override:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
      {
        code: 'EMERGED_MOUNTS',
        hint: `A later Compose file (or the base file) overrides what modelmount wrote: remove the conflicting volume/environment entries named above, or run \`${commandFor('doctor')}\` for the file and line of each.`,
        data: { files, problems: problems.map(({ kind, service, artifactId, target, expectedSource, env, actualEnv }) => ({ kind, service, artifactId, target, expectedSource, env, actualEnv })) },
      },
    );
  }
  return parsed;
}
