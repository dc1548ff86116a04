/**
 * modelmount's entry point: thin on purpose. Picks the command, wires Ctrl+C
 * and SIGTERM to an AbortSignal, sets process.exitCode. The logic lives in lib/.
 * `main()` is what runs: bin/start.mjs calls it (through the built bundle, scripts/build.mjs,
 * or through tsx).
 */
import { setMaxListeners } from 'node:events';
import { processIo } from '../lib/io.ts';
import { installLastResortHandlers, runCli } from '../lib/cli/run-cli.ts';
import { commands } from '../lib/commands/index.ts';
import { stuckOperations, stuckOperationsSettled } from '../lib/stall.ts';

/** after Ctrl+C / SIGTERM, how long the run may take to stop cleanly before the signal takes effect */
const GRACE_MS = 10_000;

/** Run modelmount with process.argv; resolves when the command is done (process.exitCode set). */
export async function main(): Promise<void> {
  const { stdout } = installLastResortHandlers();

  const controller = new AbortController();
  // every concurrent transfer and hash listens for Ctrl+C on this one signal
  setMaxListeners(0, controller.signal);

  /**
   * End the process by `signal`'s default action. process.exit() would wait for every libuv thread,
   * and one blocked in the kernel (a hung network mount) never returns; a signal ends the process
   * regardless. The run lock's exit hook (lib/lock/release-at-exit.ts, signal-exit) still removes our lock.
   */
  function endBy(signal: NodeJS.Signals): void {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  }

  let interrupts = 0;
  function onSignal(signal: NodeJS.Signals): void {
    interrupts++;
    if (interrupts > 1) return endBy(signal);
    controller.abort(new DOMException(signal === 'SIGINT' ? 'Interrupted' : 'Terminated', 'AbortError'));
    setTimeout(() => {
      process.stderr.write(`modelmount did not stop within ${GRACE_MS / 1000} s of ${signal} (a hung mount?): ending it now.\n`);
      endBy(signal);
    }, GRACE_MS).unref();
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A write past the file size limit (ulimit -f) raises SIGXFSZ. Node ignores it, so the write fails
  // with EFBIG (an EDISK, exit 5); but signal-exit (the run lock's exit hook) handles it and, as the
  // only listener, raises it again: the process died with no message. Another listener stops that.
  process.on('SIGXFSZ', () => {});

  process.exitCode = await runCli(process.argv.slice(2), { ...processIo(), stdout }, commands, controller.signal);
  if (!(await stuckOperationsSettled(2_000))) {
    // a file operation on a hung mount never returned: this process cannot exit normally
    process.stderr.write(
      `${stuckOperations()} file operation(s) on a hung mount never returned; modelmount finished (exit ${process.exitCode}) but can only end by SIGTERM.\n`,
    );
    endBy('SIGTERM');
  }
}
