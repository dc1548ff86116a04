/**
 * Runs one Swarm `global-job` service and collects what happened on each node:
 * the task's final state, its container's exit status and its log lines.
 * The service (and the configs/secrets it was given) is removed afterwards,
 * whatever happened. Everything goes through the `docker` CLI of the manager
 * the caller's environment points at (DOCKER_HOST, DOCKER_CONTEXT).
 */
import { randomBytes } from 'node:crypto';
import type { Shell } from 'zx';
import { ComposeError } from '../../errors.ts';
import { systemClock } from '../../clock.ts';

export interface SwarmNode {
  id: string;
  hostname: string;
  /** ready, down, unknown, disconnected */
  state: string;
  /** active, pause, drain */
  availability: string;
  role: 'manager' | 'worker';
  labels: Record<string, string>;
}

export interface JobMount {
  source: string;
  target: string;
  readOnly?: boolean;
}

export interface GlobalJobSpec {
  /** service name prefix; a random suffix keeps two runs apart */
  name: string;
  image: string;
  /** replaces the image's entrypoint when given */
  entrypoint?: string;
  args: string[];
  mounts: JobMount[];
  env?: Record<string, string>;
  /** placement constraints, e.g. node.labels.modelmount.set==<digest> */
  constraints?: string[];
  labels?: Record<string, string>;
  /** files given to the tasks as Swarm configs: content → target path in the container */
  configs?: { content: string; target: string }[];
  /** files given as Swarm secrets (content never on a command line) */
  secrets?: { content: string; target: string }[];
}

export type TaskOutcome = 'complete' | 'failed' | 'rejected' | 'timeout';

export interface JobTask {
  nodeId: string;
  taskId: string;
  outcome: TaskOutcome;
  /** the task's error as Swarm reports it (e.g. "task: non-zero exit (3)", "bind source path does not exist") */
  error?: string;
  exitCode?: number;
  logs: string[];
}

const TERMINAL = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

interface InspectedTask {
  ID: string;
  NodeID?: string;
  Status?: { State?: string; Err?: string; ContainerStatus?: { ExitCode?: number } };
}

interface InspectedNode {
  ID: string;
  Description?: { Hostname?: string };
  Status?: { State?: string };
  Spec?: { Availability?: string; Role?: string; Labels?: Record<string, string> | null };
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/** Fails (exit 7) unless the engine the environment points at is a Swarm manager. */
export async function checkSwarmManager(sh: Shell): Promise<void> {
  const info = await sh`docker info --format ${'{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'}`;
  if (info.exitCode !== 0) {
    throw new ComposeError(`No Docker engine answers (\`docker info\`: ${lastLine(info.stderr || info.stdout)}).`, {
      code: 'ESWARM_ENGINE',
      hint: 'Run this on a Swarm manager, or point DOCKER_HOST / DOCKER_CONTEXT at one.',
    });
  }
  const [state, control] = info.stdout.trim().split(/\s+/);
  if (state !== 'active' || control !== 'true') {
    throw new ComposeError(`This Docker engine is not a Swarm manager (swarm state: ${state || 'unknown'}${state === 'active' ? ', worker' : ''}).`, {
      code: 'ESWARM_NOT_MANAGER',
      hint: 'Run modelmount swarm on a manager node (docker node ls works there), or point DOCKER_HOST at one.',
    });
  }
}

export async function listNodes(sh: Shell): Promise<SwarmNode[]> {
  const ls = await sh`docker node ls -q`;
  if (ls.exitCode !== 0) throw new ComposeError(`\`docker node ls\` failed: ${lastLine(ls.stderr)}`, { code: 'ESWARM_NODES' });
  const ids = ls.stdout.split(/\s+/).filter(Boolean);
  if (ids.length === 0) return [];
  const inspect = await sh`docker node inspect ${ids}`;
  if (inspect.exitCode !== 0) throw new ComposeError(`\`docker node inspect\` failed: ${lastLine(inspect.stderr)}`, { code: 'ESWARM_NODES' });
  return (JSON.parse(inspect.stdout) as InspectedNode[])
    .map((n) => ({
      id: n.ID,
      hostname: n.Description?.Hostname ?? n.ID,
      state: n.Status?.State ?? 'unknown',
      availability: n.Spec?.Availability ?? 'unknown',
      role: n.Spec?.Role === 'manager' ? ('manager' as const) : ('worker' as const),
      labels: n.Spec?.Labels ?? {},
    }))
    .sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
}

export async function setNodeLabel(sh: Shell, nodeId: string, key: string, value: string | undefined): Promise<void> {
  const args = value === undefined ? ['--label-rm', key] : ['--label-add', `${key}=${value}`];
  const out = await sh`docker node update ${args} ${nodeId}`;
  if (out.exitCode !== 0) throw new ComposeError(`Could not ${value === undefined ? 'remove' : 'set'} the label ${key} on node ${nodeId}: ${lastLine(out.stderr)}`, { code: 'ESWARM_LABEL' });
}

/** `<service>.<slot>.<task id>@<node id>    | <line>` (docker service logs --no-trunc --no-resolve) */
const LOG_LINE = /^\S+\.([a-z0-9]+)@([a-z0-9]+)\s+\| ?(.*)$/;

async function collectLogs(sh: Shell, service: string): Promise<Map<string, string[]>> {
  const out = await sh`docker service logs --no-trunc --no-resolve ${service}`;
  const byTask = new Map<string, string[]>();
  for (const line of `${out.stdout}`.split('\n')) {
    const m = LOG_LINE.exec(line);
    if (!m) continue;
    const list = byTask.get(m[1]!) ?? [];
    list.push(m[3]!);
    byTask.set(m[1]!, list);
  }
  return byTask;
}

async function inspectTasks(sh: Shell, service: string): Promise<InspectedTask[]> {
  const ps = await sh`docker service ps -q --no-trunc ${service}`;
  const ids = ps.exitCode === 0 ? ps.stdout.split(/\s+/).filter(Boolean) : [];
  if (ids.length === 0) return [];
  const inspect = await sh`docker inspect --type task ${ids}`;
  return inspect.exitCode === 0 ? (JSON.parse(inspect.stdout) as InspectedTask[]) : [];
}

function outcomeOf(state: string): TaskOutcome {
  return state === 'complete' ? 'complete' : state === 'rejected' ? 'rejected' : 'failed';
}

export interface RunJobOptions {
  /** give up waiting after this long: unfinished tasks are reported as `timeout` */
  timeoutMs: number;
  /** no task at all after this long: no node matches */
  noTaskMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Create the job, wait until every task it got has finished (the task set stable over two polls),
 * collect states, exit codes and logs per node, remove the job. Restart policy `none`: one try per node.
 */
export async function runGlobalJob(sh: Shell, spec: GlobalJobSpec, opts: RunJobOptions): Promise<JobTask[]> {
  const suffix = randomBytes(4).toString('hex');
  const service = `${spec.name}-${suffix}`;
  const made: { kind: 'config' | 'secret'; name: string }[] = [];
  try {
    const attach: string[] = [];
    for (const [kind, list] of [
      ['config', spec.configs ?? []],
      ['secret', spec.secrets ?? []],
    ] as const) {
      for (const [i, f] of list.entries()) {
        const name = `${service}-${kind}${i}`;
        const out = await sh({ input: f.content })`docker ${kind} create ${name} -`;
        if (out.exitCode !== 0) throw new ComposeError(`\`docker ${kind} create\` failed: ${lastLine(out.stderr)}`, { code: 'ESWARM_JOB' });
        made.push({ kind, name });
        attach.push(`--${kind}`, `source=${name},target=${f.target},mode=0400`);
      }
    }
    const args = [
      'service', 'create', '--detach', '--quiet', '--name', service, '--mode', 'global-job', '--restart-condition', 'none', '--no-resolve-image',
      ...spec.mounts.flatMap((m) => ['--mount', `type=bind,source=${m.source},target=${m.target}${m.readOnly ? ',readonly' : ''}`]),
      ...Object.entries(spec.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      ...(spec.constraints ?? []).flatMap((c) => ['--constraint', c]),
      ...Object.entries(spec.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      ...(spec.entrypoint !== undefined ? ['--entrypoint', spec.entrypoint] : []),
      ...attach,
      spec.image,
      ...spec.args,
    ];
    const created = await sh`docker ${args}`;
    if (created.exitCode !== 0) throw new ComposeError(`\`docker service create\` failed: ${lastLine(created.stderr)}`, { code: 'ESWARM_JOB', hint: 'Check the image name and the constraint.' });

    const started = Date.now();
    let tasks: InspectedTask[] = [];
    let previous = '';
    let timedOut = false;
    for (;;) {
      tasks = await inspectTasks(sh, service);
      const key = tasks.map((t) => `${t.ID}:${t.Status?.State}`).sort().join(',');
      const done = tasks.length > 0 && tasks.every((t) => TERMINAL.has(t.Status?.State ?? ''));
      if (done && key === previous) break;
      previous = key;
      if (tasks.length === 0 && Date.now() - started > (opts.noTaskMs ?? 15_000)) break;
      if (Date.now() - started > opts.timeoutMs) {
        timedOut = true;
        break;
      }
      await systemClock.sleep(opts.pollMs ?? 1000, opts.signal);
    }
    const logs = await collectLogs(sh, service);
    // one task per node: the last one Swarm made there
    const byNode = new Map<string, InspectedTask>();
    for (const t of tasks) if (t.NodeID) byNode.set(t.NodeID, t);
    return [...byNode.values()].map((t) => {
      const state = t.Status?.State ?? 'unknown';
      return {
        nodeId: t.NodeID!,
        taskId: t.ID,
        outcome: timedOut && !TERMINAL.has(state) ? 'timeout' : outcomeOf(state),
        ...(t.Status?.Err ? { error: t.Status.Err } : {}),
        ...(t.Status?.ContainerStatus?.ExitCode !== undefined && TERMINAL.has(state) && state !== 'rejected' ? { exitCode: t.Status.ContainerStatus.ExitCode } : {}),
        logs: logs.get(t.ID) ?? [],
      };
    });
  } finally {
    await sh`docker service rm ${service}`;
    for (const m of made) {
      // a config or secret can be removed once no task uses it: the service's tasks go away shortly after it
      for (let i = 0; i < 20; i++) {
        const rm = await sh`docker ${m.kind} rm ${m.name}`;
        if (rm.exitCode === 0 || /not found|No such/i.test(rm.stderr)) break;
        await systemClock.sleep(500);
      }
    }
  }
}
