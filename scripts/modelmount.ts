#!/usr/bin/env node
/**
 * modelmount's entry point: thin on purpose. Picks the command, wires Ctrl+C
 * to an AbortSignal, sets process.exitCode. The logic lives in lib/.
 */
import { setMaxListeners } from 'node:events';
import { processIo } from '../lib/commands/context.ts';
import { installLastResortHandlers, runCli } from '../lib/cli/run-cli.ts';
import { commands } from '../lib/commands/index.ts';

installLastResortHandlers();

const controller = new AbortController();
// every concurrent transfer and hash listens for Ctrl+C on this one signal
setMaxListeners(0, controller.signal);
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts++;
  if (interrupts > 1) process.exit(130);
  controller.abort(new DOMException('Interrupted', 'AbortError'));
});
process.on('SIGTERM', () => controller.abort(new DOMException('Terminated', 'AbortError')));

process.exitCode = await runCli(process.argv.slice(2), processIo(), commands, controller.signal);
