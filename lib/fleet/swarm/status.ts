/**
 * `modelmount swarm status` (and `status --swarm`): per node, the set its label says it holds
 * (this selection's, another one, none) and, for every service placed on a set label (what the
 * Swarm override adds), whether that service has a running task there and whether the node's
 * set is the one the service asks for. Read-only.
 */
import type { Shell } from 'zx';
import { formatTable } from '../../ui/format.ts';
import { ComposeError } from '../../errors.ts';
import { checkSwarmManager, listNodes } from './job.ts';
import { SET_LABEL } from './provision.ts';

export interface NodeServiceStatus {
  service: string;
  /** the set digest the service's placement constraint asks for */
  wants: string;
  running: number;
  /** the node's label names the set the service wants */
  matches: boolean;
}

export interface NodeStatus {
  node: string;
  id: string;
  state: string;
  availability: string;
  /** the node's modelmount.set label, if any */
  set: string | null;
  holds: 'current' | 'other' | 'none';
  services: NodeServiceStatus[];
}

export interface SwarmStatusReport {
  command: 'swarm status';
  ok: true;
  set: string;
  nodes: NodeStatus[];
}

interface InspectedService {
  Spec?: { Name?: string; TaskTemplate?: { Placement?: { Constraints?: string[] | null } } };
}

const CONSTRAINT = new RegExp(`^node\\.labels\\.${SET_LABEL.replace(/\./g, '\\.')}\\s*==\\s*(\\S+)$`);

/** Services placed on a set label: name → the digest they want. */
async function placedServices(sh: Shell): Promise<Map<string, string>> {
  const ls = await sh`docker service ls -q`;
  if (ls.exitCode !== 0) throw new ComposeError(`\`docker service ls\` failed: ${ls.stderr.trim()}`, { code: 'ESWARM_SERVICES' });
  const ids = ls.stdout.split(/\s+/).filter(Boolean);
  const out = new Map<string, string>();
  if (!ids.length) return out;
  const inspect = await sh`docker service inspect ${ids}`;
  if (inspect.exitCode !== 0) return out;
  for (const s of JSON.parse(inspect.stdout) as InspectedService[]) {
    for (const c of s.Spec?.TaskTemplate?.Placement?.Constraints ?? []) {
      const m = CONSTRAINT.exec(c.trim());
      if (m && s.Spec?.Name) out.set(s.Spec.Name, m[1]!);
    }
  }
  return out;
}

export async function swarmStatus(sh: Shell, digest: string): Promise<SwarmStatusReport> {
  await checkSwarmManager(sh);
  const nodes = await listNodes(sh);
  const services = await placedServices(sh);
  const running = new Map<string, Map<string, number>>(); // service → node id → running tasks
  for (const name of services.keys()) {
    const ps = await sh`docker service ps --no-trunc --filter desired-state=running --format ${'{{.Node}} {{.CurrentState}}'} ${name}`;
    const perNode = new Map<string, number>();
    for (const line of ps.stdout.split('\n')) {
      const [node, state] = line.split(' ');
      if (node && state === 'Running') perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
    running.set(name, perNode);
  }
  return {
    command: 'swarm status',
    ok: true,
    set: digest,
    nodes: nodes.map((n) => {
      const set = n.labels[SET_LABEL] ?? null;
      return {
        node: n.hostname,
        id: n.id,
        state: n.state,
        availability: n.availability,
        set,
        holds: set === null ? 'none' : set === digest ? 'current' : 'other',
        services: [...services].map(([service, wants]) => ({
          service,
          wants,
          // `docker service ps` names the node by hostname
          running: running.get(service)?.get(n.hostname) ?? 0,
          matches: set === wants,
        })),
      };
    }),
  };
}

export function formatSwarmStatus(r: SwarmStatusReport): string {
  const rows = [['NODE', 'STATE', 'SET', 'TASKS']];
  for (const n of r.nodes) {
    const set = n.holds === 'current' ? 'current' : n.holds === 'other' ? `other (${n.set!.slice(0, 12)})` : 'none';
    const tasks = n.services.filter((s) => s.running > 0).map((s) => `${s.service}: ${s.running} running${s.matches ? '' : ' (NOT its set!)'}`);
    rows.push([n.node, `${n.state}/${n.availability}`, set, tasks.join(', ') || '-']);
  }
  const table = formatTable(rows);
  const holding = r.nodes.filter((n) => n.holds === 'current').length;
  return `${table}\n\nSet ${r.set}: held by ${holding} of ${r.nodes.length} node${r.nodes.length === 1 ? '' : 's'} (label ${SET_LABEL}).\n`;
}
