/**
 * `modelmount swarm provision`: every node (or those a constraint selects)
 * installs and verifies the selection into its own host folder, through one
 * `global-job` of the modelmount image; each node that proved it holds the
 * verified set gets the label `modelmount.set=<selection digest>`, every other
 * node that ran the job loses it. The Swarm override's placement constraint
 * on that label keeps tasks off nodes without the models.
 *
 *   selection ──▶ job spec (pure) ──▶ global-job ──▶ per-node results ──▶ label plan (pure) ──▶ docker node update
 */
import path from 'node:path';
import fs from 'node:fs/promises';
import type { Shell } from 'zx';
import { formatTable } from '../../ui/format.ts';
import { ExitCode, UsageError, type ExitStatus } from '../../errors.ts';
import type { Artifact, Manifest } from '../../manifest/schema.ts';
import { selectionDigest } from '../../manifest/digest.ts';
import { checkSwarmManager, listNodes, runGlobalJob, setNodeLabel, type GlobalJobSpec, type JobMount, type JobTask, type SwarmNode } from './job.ts';
import { parseNodeResult, type NodeResult } from './node-run.ts';

export const SET_LABEL = 'modelmount.set';
/** where the job finds the manifest (a Swarm config); not below /run or /etc: relative folders in the manifest resolve there, and modelmount refuses system folders */
export const NODE_MANIFEST_PATH = '/modelmount/manifest/models.yaml';
/** the store on each node when the manifest names none (the manager's ~/.cache means nothing there) */
export const NODE_CACHE_DIR = '/var/cache/modelmount';

/** The placement constraint a service gets so it only runs where the verified set is. */
export function setConstraint(digest: string, label = SET_LABEL): string {
  return `node.labels.${label}==${digest}`;
}

/**
 * The folders the job bind-mounts: the PARENT of the host folder and of the store, at the same
 * paths, so the job can create them on a node that has never seen modelmount (Swarm refuses a
 * task whose bind source is missing). One mount when one contains the other.
 */
export function provisionMounts(hostDir: string, cacheDir: string): JobMount[] {
  const parents = [path.dirname(hostDir), path.dirname(cacheDir)].sort((a, b) => a.length - b.length);
  const out: string[] = [];
  for (const p of parents) if (!out.some((o) => p === o || p.startsWith(`${o}/`) || o === '/')) out.push(p);
  return out.map((p) => ({ source: p, target: p }));
}

export interface ProvisionPlanInput {
  manifest: Manifest;
  manifestText: string;
  artifacts: readonly Artifact[];
  image: string;
  hostDir: string;
  cacheDir: string;
  constraints: string[];
  retries?: number;
  source?: string;
  /** tokenEnv name → value, handed over as Swarm secrets */
  tokens: Record<string, string>;
}

/** The job every node runs (pure). */
export function provisionJobSpec(input: ProvisionPlanInput): GlobalJobSpec {
  if (!path.isAbsolute(input.hostDir) || input.hostDir === '/') throw new UsageError(`The host folder must be an absolute path below /, not ${input.hostDir}.`);
  const ids = input.artifacts.map((a) => a.id);
  return {
    name: 'modelmount-provision',
    image: input.image,
    args: [
      'swarm', 'node-run', '--manifest', NODE_MANIFEST_PATH, '--host-dir', input.hostDir, '--cache-dir', input.cacheDir, '--only', ids.join(','),
      ...(input.retries !== undefined ? ['--retries', String(input.retries)] : []),
      ...(input.source ? ['--source', input.source] : []),
    ],
    mounts: provisionMounts(input.hostDir, input.cacheDir),
    constraints: input.constraints,
    labels: { [SET_LABEL]: selectionDigest(input.artifacts) },
    configs: [{ content: input.manifestText, target: NODE_MANIFEST_PATH }],
    secrets: Object.entries(input.tokens).map(([name, value]) => ({ content: value, target: name })),
  };
}

export type NodeState = 'verified' | 'failed' | 'rejected' | 'timeout' | 'not-run';
export type LabelAction = 'added' | 'kept' | 'removed' | 'absent' | 'untouched';

export interface NodeReport {
  node: string;
  id: string;
  role: SwarmNode['role'];
  state: NodeState;
  /** files this run installed on the node (0: it already held the set) */
  installed?: number;
  bytesTransferred?: number;
  error?: { code: string; message: string };
  exitCode?: number;
  label: LabelAction;
}

export interface ProvisionReport {
  command: 'swarm provision';
  ok: boolean;
  set: string;
  label: string;
  artifacts: string[];
  image: string;
  hostDir: string;
  nodes: NodeReport[];
}

/**
 * Per node: what the job says and what happens to its label (pure). A node the job ran on keeps or
 * gets the label only with a result line naming exactly this set; a Ready node the job should have
 * reached but did not (no task: drained, paused) is left alone when a constraint narrowed the run,
 * and loses the label otherwise (nothing proved it holds the set).
 */
export function planNodes(nodes: SwarmNode[], tasks: JobTask[], digest: string, opts: { constrained: boolean; label?: string }): NodeReport[] {
  const label = opts.label ?? SET_LABEL;
  return nodes.map((n) => {
    const task = tasks.find((t) => t.nodeId === n.id);
    const has = n.labels[label] === digest;
    const hadAny = n.labels[label] !== undefined;
    const base = { node: n.hostname, id: n.id, role: n.role };
    if (!task) {
      if (opts.constrained) return { ...base, state: 'not-run' as const, label: 'untouched' as const };
      return {
        ...base,
        state: 'not-run' as const,
        error: { code: 'ESWARM_NO_TASK', message: `no task ran here (node ${n.state}, ${n.availability})` },
        label: hadAny ? ('removed' as const) : ('absent' as const),
      };
    }
    const result: NodeResult | undefined = parseNodeResult(task.logs);
    const verified = task.outcome === 'complete' && task.exitCode === 0 && result?.ok === true && result.set === digest;
    if (verified) return { ...base, state: 'verified' as const, installed: result!.installed, bytesTransferred: result!.bytesTransferred, label: has ? ('kept' as const) : ('added' as const) };
    const state: NodeState = task.outcome === 'complete' ? 'failed' : task.outcome;
    const error = result?.error ?? {
      code: task.outcome === 'rejected' ? 'ESWARM_REJECTED' : task.outcome === 'timeout' ? 'ESWARM_TIMEOUT' : 'ESWARM_TASK',
      message: task.error ?? (task.outcome === 'complete' ? 'the job printed no result line' : `task ${task.outcome}`),
    };
    return { ...base, state, error, ...(task.exitCode !== undefined ? { exitCode: task.exitCode } : {}), label: hadAny ? ('removed' as const) : ('absent' as const) };
  });
}

/** The exit status: 0 when every node that ran holds the set; else the first failed node's own status, 7 for a task Swarm refused or lost. */
export function provisionExit(nodes: NodeReport[]): ExitStatus {
  const bad = nodes.filter((n) => n.state !== 'verified' && !(n.state === 'not-run' && n.label === 'untouched'));
  if (bad.length === 0) return ExitCode.ok;
  const known = Object.values(ExitCode) as number[];
  const withCode = bad.find((n) => n.exitCode !== undefined && n.exitCode !== 0 && known.includes(n.exitCode));
  return (withCode?.exitCode as ExitStatus | undefined) ?? ExitCode.compose;
}

export interface ProvisionOptions {
  manifest: Manifest;
  artifacts: readonly Artifact[];
  image: string;
  /** host folder and store on the nodes */
  hostDir: string;
  cacheDir?: string;
  constraints: string[];
  retries?: number;
  source?: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export async function provisionSwarm(sh: Shell, opts: ProvisionOptions): Promise<ProvisionReport> {
  await checkSwarmManager(sh);
  const digest = selectionDigest(opts.artifacts);
  const tokens: Record<string, string> = {};
  for (const s of opts.manifest.sources) if (s.tokenEnv && opts.env[s.tokenEnv]) tokens[s.tokenEnv] = opts.env[s.tokenEnv]!;
  const cacheDir = opts.cacheDir ?? opts.manifest.cacheDir ?? NODE_CACHE_DIR;
  const spec = provisionJobSpec({
    manifest: opts.manifest,
    manifestText: await fs.readFile(opts.manifest.path, 'utf8'),
    artifacts: opts.artifacts,
    image: opts.image,
    hostDir: opts.hostDir,
    cacheDir,
    constraints: opts.constraints,
    retries: opts.retries,
    source: opts.source,
    tokens,
  });
  opts.log?.(`Running ${spec.name} (${opts.image}, global-job) on ${opts.constraints.length ? `the nodes matching ${opts.constraints.join(' and ')}` : 'every node'} …`);
  const tasks = await runGlobalJob(sh, spec, { timeoutMs: opts.timeoutMs, signal: opts.signal });
  // nodes listed after the job: one that joined meanwhile and got no task is reported, not skipped
  const nodes = await listNodes(sh);
  const planned = planNodes(nodes, tasks, digest, { constrained: opts.constraints.length > 0 });
  for (const n of planned) {
    if (n.label === 'added') await setNodeLabel(sh, n.id, SET_LABEL, digest);
    if (n.label === 'removed') await setNodeLabel(sh, n.id, SET_LABEL, undefined);
  }
  return {
    command: 'swarm provision',
    ok: provisionExit(planned) === ExitCode.ok,
    set: digest,
    label: `${SET_LABEL}=${digest}`,
    artifacts: opts.artifacts.map((a) => a.id),
    image: opts.image,
    hostDir: opts.hostDir,
    nodes: planned,
  };
}

export function formatProvision(r: ProvisionReport): string {
  const rows = [['NODE', 'ROLE', 'STATE', 'LABEL', 'DETAIL']];
  for (const n of r.nodes) {
    const detail =
      n.state === 'verified'
        ? n.installed
          ? `installed ${n.installed} file${n.installed === 1 ? '' : 's'}`
          : 'already held the set'
        : n.error
          ? `${n.error.code}: ${n.error.message.split('\n')[0]}`
          : '';
    rows.push([n.node, n.role, n.state, n.label, detail]);
  }
  const table = formatTable(rows);
  const held = r.nodes.filter((n) => n.state === 'verified').length;
  const bad = r.nodes.filter((n) => n.state !== 'verified' && n.label !== 'untouched');
  const lines = [table, '', `Set ${r.set} (${r.artifacts.join(', ')}) in ${r.hostDir}: ${held} node${held === 1 ? '' : 's'} labelled ${SET_LABEL}.`];
  if (bad.length) lines.push(`  ✖ ${bad.map((n) => n.node).join(', ')} do${bad.length === 1 ? 'es' : ''} not hold it: no task that uses the Swarm override is placed there. Fix the cause above and run \`modelmount swarm provision\` again.`);
  lines.push(`  → deploy with: modelmount swarm override --output models.swarm.yaml && docker stack deploy -c <your compose file> -c models.swarm.yaml <stack>`);
  return `${lines.join('\n')}\n`;
}
