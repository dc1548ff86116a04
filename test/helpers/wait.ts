/**
 * Wait for something the code under test does in its own time (bytes arriving, a file growing),
 * checking every `everyMs`. It fails with `what` when it never happens: a poll never times out silently.
 * The time limit only ends a test that would otherwise hang; nothing is asserted about how long it took.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, opts: { timeoutMs?: number; everyMs?: number } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const giveUp = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > giveUp) throw new Error(`Gave up after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 10));
  }
}
