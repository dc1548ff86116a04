import type { Contender } from '../measure.ts';
import type { CaseContext } from './context.ts';

/** Case 10: `modelmount --version` against `node -e 0`. */
export async function runStartUpCase(ctx: CaseContext): Promise<void> {
  if (!ctx.opts.cases.has('10')) return;
  await runAgainstNode(ctx, '10', 'start-up: `modelmount --version` against `node -e 0`', { name: 'modelmount --version', cmd: [...ctx.mm, '--version'] });
}

/** A start-up case: the tool's median may exceed `node -e 0`'s by at most 0.1 s; at least 5 rounds (the times are short). */
export async function runAgainstNode({ opts, baselineOf, run }: CaseContext, id: string, title: string, tool: Contender): Promise<void> {
  await run(
    {
      id,
      title,
      tool,
      baseline: baselineOf(tool),
      peers: [{ name: 'node -e 0', cmd: ['node', '-e', '0'] }],
      samples: new Map(),
      targets: [],
      diffMaxS: { peer: 'node -e 0', maxS: 0.1 },
    },
    Math.max(opts.rounds, 5),
  );
}
