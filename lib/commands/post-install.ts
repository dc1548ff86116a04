/** After a successful install: write the Compose override, validate it, smoke-test the container. */
import type { FlagSpec, ParsedFlags } from '../cli/args.ts';
import type { Io } from './context.ts';
import type { UpdateOutcome } from './update.ts';

export const POST_INSTALL_FLAGS: FlagSpec[] = [
  { name: 'compose', type: 'boolean', defaultTrue: true, env: 'MODELS_COMPOSE_OVERRIDE', help: 'skip writing and validating the Compose override' },
  { name: 'smoke', type: 'boolean', defaultTrue: true, env: 'MODELS_SMOKE', help: 'skip the container smoke test' },
];

export async function afterInstall(
  _outcome: UpdateOutcome,
  _flags: ParsedFlags,
  _io: Io,
  _signal: AbortSignal,
): Promise<{ exitCode: number; report?: Record<string, unknown> }> {
  // TODO(issue 3): wire lib/compose and lib/smoke here.
  return { exitCode: 0 };
}
