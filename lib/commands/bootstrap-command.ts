/**
 * `npm run bootstrap`: a new environment, start to finish. Check what can be
 * checked, ask what is not answered by flags (all before any byte moves), then
 * update → override → smoke → doctor, and say what is where and what to run next.
 * The work: lib/bootstrap/run-bootstrap.ts. Every question has a flag, so `bootstrap --yes …` runs unattended; on a
 * bootstrapped host it changes nothing.
 */
import { defineCommand } from '../cli/command.ts';
import { commandFor, formatExamples } from '../invocation.ts';
import { updateOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, POST_INSTALL_FLAGS, SELECTION_FLAGS, WAIT_FLAG } from './specs.ts';

export const bootstrapCommand = defineCommand({
  name: 'bootstrap',
  operands: 'artifacts',
  summary: 'set up a new environment: check prerequisites, ask, install, write the override, smoke-test, doctor',
  usage: 'modelmount bootstrap [ID...] [--yes] [--labels K=V] [--source NAME | --source-url URL] [--host-dir DIR] [--services S] [--no-smoke]',
  flags: [
    ...SELECTION_FLAGS,
    ...LOCATION_FLAGS,
    { name: 'services', type: 'list', value: 'NAMES', env: 'MODELS_SERVICES', help: 'Compose services that get the models (default: the manifest\'s compose.services)' },
    ...POST_INSTALL_FLAGS.filter((f) => f.name !== 'compose'),
    WAIT_FLAG,
    JSON_FLAG,
  ],
  get details() {
    return `Examples:\n${formatExamples([
      [commandFor('bootstrap'), 'asks every question on a terminal'],
      [commandFor('bootstrap', '--yes --labels lang=ja --no-smoke'), 'unattended'],
    ])}`;
  },
  async run(flags, io, signal) {
    const { runBootstrap } = await import('../bootstrap/run-bootstrap.ts');
    return runBootstrap({ ...updateOptions(flags), smoke: flags.given.has('smoke') ? Boolean(flags.smoke) : undefined, full: Boolean(flags.full) }, io, signal);
  },
});
