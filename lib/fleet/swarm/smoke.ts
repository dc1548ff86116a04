/**
 * `modelmount swarm smoke`: the app's smoke command (manifest `smoke.command`) on every node
 * labelled with the verified set, as one `global-job` of the service's image with the same
 * read-only mounts and variables the override gives it. Reports per node.
 */
import type { Shell } from 'zx';
import { composeSettingsOf } from '../../compose/override.ts';
import { serviceImage } from '../../compose/services.ts';
import { ExitCode, SmokeError, UsageError } from '../../errors.ts';
import { artifactDir, containerPathOf } from '../../layout.ts';
import type { Artifact, Manifest } from '../../manifest/schema.ts';
import { selectionDigest } from '../../manifest/digest.ts';
import { checkSwarmManager, listNodes, runGlobalJob, type GlobalJobSpec } from './job.ts';
import { SET_LABEL, setConstraint } from './provision.ts';

export interface SmokeNodeReport {
  node: string;
  id: string;
  state: 'passed' | 'failed' | 'rejected' | 'timeout' | 'no-task';
  exitCode?: number;
  error?: string;
  /** last lines the command printed */
  output: string[];
}

export interface SwarmSmokeReport {
  command: 'swarm smoke';
  ok: boolean;
  set: string;
  service: string;
  image: string;
  smokeCommand: string[];
  nodes: SmokeNodeReport[];
}

/** The smoke job (pure). */
export function smokeJobSpec(manifest: Manifest, artifacts: readonly Artifact[], image: string, hostDir: string): GlobalJobSpec {
  const compose = composeSettingsOf(manifest);
  const command = manifest.smoke?.command;
  if (!command?.length) {
    throw new UsageError(`${manifest.path} has no smoke.command: there is nothing to run on the nodes.`, {
      hint: 'Add `smoke: {command: [...]}` (the app\'s own model-loading check) to the manifest.',
    });
  }
  const env: Record<string, string> = {};
  for (const a of artifacts) if (a.env) env[a.env] = containerPathOf(compose.containerDir, a.id);
  return {
    name: 'modelmount-smoke',
    image,
    entrypoint: command[0]!,
    args: command.slice(1),
    mounts: artifacts.map((a) => ({ source: artifactDir(hostDir, a.id), target: containerPathOf(compose.containerDir, a.id), readOnly: true })),
    env,
    constraints: [setConstraint(selectionDigest(artifacts))],
    labels: { [SET_LABEL]: selectionDigest(artifacts) },
  };
}

export async function smokeSwarm(
  sh: Shell,
  opts: { manifest: Manifest; artifacts: readonly Artifact[]; hostDir: string; service?: string; image?: string; timeoutMs: number; signal?: AbortSignal },
): Promise<SwarmSmokeReport> {
  await checkSwarmManager(sh);
  const service = opts.service ?? composeSettingsOf(opts.manifest).services[0]!;
  const image = opts.image ?? (await serviceImage(opts.manifest, service, { signal: opts.signal }));
  if (!image) {
    throw new UsageError(`The Compose files give service ${service} no \`image:\` (a \`build:\` only?): the smoke job needs an image every node has.`, {
      hint: 'Pass --image NAME (the image `docker stack deploy` runs), or choose the service with --service.',
    });
  }
  const digest = selectionDigest(opts.artifacts);
  const spec = smokeJobSpec(opts.manifest, opts.artifacts, image, opts.hostDir);
  const labelled = (await listNodes(sh)).filter((n) => n.labels[SET_LABEL] === digest);
  if (labelled.length === 0) {
    throw new SmokeError(`No node is labelled ${SET_LABEL}=${digest}: no node has proved it holds the verified set.`, {
      code: 'ESWARM_NO_NODES',
      hint: 'Run `modelmount swarm provision` first (with the same selection flags).',
    });
  }
  const tasks = await runGlobalJob(sh, spec, { timeoutMs: opts.timeoutMs, signal: opts.signal });
  const nodes: SmokeNodeReport[] = labelled.map((n) => {
    const t = tasks.find((x) => x.nodeId === n.id);
    if (!t) return { node: n.hostname, id: n.id, state: 'no-task', error: `no task ran here (node ${n.state}, ${n.availability})`, output: [] };
    const passed = t.outcome === 'complete' && t.exitCode === 0;
    return {
      node: n.hostname,
      id: n.id,
      state: passed ? 'passed' : t.outcome === 'complete' ? 'failed' : t.outcome,
      ...(t.exitCode !== undefined ? { exitCode: t.exitCode } : {}),
      ...(t.error && !passed ? { error: t.error } : {}),
      output: t.logs.slice(-10),
    };
  });
  return { command: 'swarm smoke', ok: nodes.every((n) => n.state === 'passed'), set: digest, service, image, smokeCommand: opts.manifest.smoke!.command!, nodes };
}

export function formatSwarmSmoke(r: SwarmSmokeReport): string {
  const lines = r.nodes.map((n) => {
    const head = `${n.state === 'passed' ? '✔' : '✖'} ${n.node}: ${n.state}${n.exitCode !== undefined && n.state !== 'passed' ? ` (exit ${n.exitCode})` : ''}${n.error ? ` — ${n.error}` : ''}`;
    return n.state === 'passed' ? head : [head, ...n.output.map((l) => `    ${l}`)].join('\n');
  });
  lines.push('', `${r.ok ? 'OK' : 'FAILED'}: \`${r.smokeCommand.join(' ')}\` in ${r.image} on ${r.nodes.length} node${r.nodes.length === 1 ? '' : 's'} labelled ${SET_LABEL}=${r.set}.`);
  return `${lines.join('\n')}\n`;
}

export const SMOKE_FAILED = ExitCode.smoke;
