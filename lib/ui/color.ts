/**
 * Colour on a terminal, the way most CLIs decide (colorette, which listr2 uses, decides the same):
 * NO_COLOR (any non-empty value) turns it off, FORCE_COLOR (non-empty, not "0") turns it on even
 * in a pipe, FORCE_COLOR=0 turns it off; otherwise a terminal gets colour unless TERM=dumb.
 * Only the marks at the start of a line are painted (✔ green, ⚠ yellow, ✖ red, "OK:" and
 * "FAILED:"), so formatters stay plain text and pipes stay clean.
 */
export function colorWanted(env: NodeJS.ProcessEnv, isTTY: boolean | undefined): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0' && env.FORCE_COLOR.toLowerCase() !== 'false';
  return Boolean(isTTY) && env.TERM !== 'dumb';
}

const GREEN = ['\x1b[32m', '\x1b[39m'] as const;
const YELLOW = ['\x1b[33m', '\x1b[39m'] as const;
const RED = ['\x1b[31m', '\x1b[39m'] as const;
const PAINT: Record<string, readonly [string, string]> = { '✔': GREEN, 'OK:': GREEN, '⚠': YELLOW, '✖': RED, 'FAILED:': RED };

/** Paint the mark that starts each line (after its indentation). */
export function paintMarks(text: string): string {
  return text.replace(/^([ \t]*)(✔|⚠|✖|OK:|FAILED:)/gm, (_m, indent: string, mark: string) => `${indent}${PAINT[mark]![0]}${mark}${PAINT[mark]![1]}`);
}

/**
 * The same stream, with `write` passing strings through `transform` (undefined drops the write);
 * everything else (isTTY, columns, events) is the stream's own. Assigning `write` (listr2 hijacks
 * it while it draws, then puts back what it read) replaces the wrapper on this view only.
 */
export function transformWrites<T extends NodeJS.WritableStream>(stream: T, transform: (text: string) => string | undefined): T {
  const write = (chunk: unknown, ...rest: unknown[]): boolean => {
    const original = stream.write as (...a: unknown[]) => boolean;
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : undefined;
    if (text === undefined) return original.call(stream, chunk, ...rest);
    const out = transform(text);
    if (out === undefined) {
      (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
      return true;
    }
    return original.call(stream, out, ...rest.filter((r) => typeof r !== 'string'));
  };
  let replaced: unknown;
  return new Proxy(stream, {
    get(target, prop) {
      if (prop === 'write') return replaced ?? write;
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
    set(target, prop, value) {
      if (prop !== 'write') return Reflect.set(target, prop, value, target);
      replaced = value === write ? undefined : value;
      return true;
    },
  });
}
