/**
 * `npm run demo`: the whole job on a built-in artifact set, no external server.
 * Generates the files, serves them on loopback, runs `update` twice (the second
 * run is the no-op every later `npm run models:update` is), then `verify`, then the release story
 * (a second model version, `update --apply`, `rollback --apply`). The work: lib/demo/run-demo.ts.
 */
import type { CommandSpec } from '../cli/command.ts';

export const demoCommand: CommandSpec = {
  name: 'demo',
  summary: 'run the whole job on a built-in demo artifact set served from loopback (no external server)',
  usage: 'modelmount demo',
  flags: [],
  takesManifest: false, // always manifests/demo.yaml
  run: async (_flags, io, signal) => (await import('../demo/run-demo.ts')).runDemo(io, signal),
};
