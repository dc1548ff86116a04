/**
 * Which listr2 renderer: nothing with --json (the JSON document is the output) or
 * --quiet, the live task list on a terminal, plain lines in CI and pipes. It draws on stderr:
 * progress is not a result.
 */
import { isCI } from '../io.ts';

export type RendererName = 'default' | 'simple' | 'silent';

export function pickRenderer(opts: { json: boolean; isTTY: boolean; stderrIsTTY?: boolean; env: NodeJS.ProcessEnv; quiet?: boolean }): RendererName {
  if (opts.json || opts.quiet) return 'silent';
  if (!opts.isTTY || opts.stderrIsTTY === false || isCI(opts.env) || opts.env.TERM === 'dumb') return 'simple';
  return 'default';
}
