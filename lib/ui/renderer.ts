/**
 * Which listr2 renderer: nothing on stdout with --json (the JSON document is
 * the output), the live task list on a terminal, plain lines in CI and pipes.
 */
import { isCI } from '../commands/context.ts';

export type RendererName = 'default' | 'simple' | 'silent';

export function pickRenderer(opts: { json: boolean; isTTY: boolean; env: NodeJS.ProcessEnv }): RendererName {
  if (opts.json) return 'silent';
  if (!opts.isTTY || isCI(opts.env) || opts.env.TERM === 'dumb') return 'simple';
  return 'default';
}
