/**
 * `npm run demo`: the whole job on a built-in artifact set, no external server.
 * Generates the files, serves them on loopback, runs `update` twice (the second
 * run is the no-op every later `npm run models:update` is), then `verify`, then the release story
 * (a second model version, `update --apply`, `rollback --apply`). The work: lib/demo/run-demo.ts.
 */
import type { CommonFlag } from '../cli/args.ts';
import { defineCommand } from '../cli/command.ts';

// no flags of its own: typed by the common ones (an empty table alone infers never, which the command list cannot hold)
export const demoCommand = defineCommand<CommonFlag>({
  name: 'demo',
  summary: 'run the whole job on a built-in demo artifact set served from loopback (no external server)',
  usage: 'modelmount demo',
  flags: [],
  takesManifest: false, // always manifests/demo.yaml
  run: async (_flags, io, signal) => (await import('../demo/run-demo.ts')).runDemo(io, signal),
});
