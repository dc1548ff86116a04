/** How the override is picked up: the Compose command line with every -f, COMPOSE_FILE, `include:`. */
import path from 'node:path';
import { formatCommandLine, shellQuote } from '../shell.ts';
import type { Manifest } from '../manifest/schema.ts';
import type { ComposeEngine } from './engine.ts';
import { relativeInside } from '../path-inside.ts';
import { composeFilesWithOverride, composeSettingsOf, toPosix } from './override.ts';

export interface ComposeInvocation {
  /** argv prefix including every -f, e.g. ['docker','compose','-f','compose/services.yaml','-f','compose/models.override.yaml'] */
  argv: string[];
  /** the same, as one shell-quoted line */
  commandLine: string;
  /** value for COMPOSE_FILE (platform path separator) */
  composeFile: string;
  /** human guidance: -f, COMPOSE_FILE, include */
  guidance: string;
}

/**
 * The exact Compose command line that applies the override (for `--print`),
 * plus how else to pick it up. Paths are shown relative to `cwd` when inside it.
 */
export function composeInvocation(
  manifest: Manifest,
  engine: Pick<ComposeEngine, 'command' | 'version'> | undefined,
  opts: { cwd?: string; pathDelimiter?: string } = {},
): ComposeInvocation {
  const compose = composeSettingsOf(manifest);
  const cwd = opts.cwd ?? process.cwd();
  const delimiter = opts.pathDelimiter ?? path.delimiter;
  const show = (p: string) => {
    return relativeInside(cwd, p) || p;
  };
  const files = composeFilesWithOverride(compose);
  const command = engine?.command ?? ['docker', 'compose'];
  const argv = [...command, ...files.flatMap((f) => ['-f', show(f)])];
  const commandLine = formatCommandLine(argv);
  const composeFile = files.map(show).join(delimiter);
  const base = compose.files[0] ?? '';
  const overrideFromBase = toPosix(path.relative(path.dirname(base), compose.override));
  const basesFromTop = compose.files.map((f) => toPosix(path.relative(path.dirname(base), f)));
  const guidance = [
    `The override only takes effect when Compose reads it after your base file${compose.files.length > 1 ? 's' : ''}. Any one of:`,
    `  1. pass every file with -f:   ${commandLine} <command>`,
    `  2. set COMPOSE_FILE (paths relative to where you run Compose, separator "${delimiter}"):   COMPOSE_FILE=${shellQuote(composeFile)}`,
    `  3. Compose v2.20.3+ only (not docker-compose v1): a top-level file next to ${path.basename(base)} that merges both:`,
    `       include:`,
    `         - path: [${[...basesFromTop, overrideFromBase].join(', ')}]`,
    `     (a plain \`include: [${overrideFromBase}]\` does NOT work: an included file is a separate project and its partial service conflicts with yours)`,
  ].join('\n');
  return { argv, commandLine, composeFile, guidance };
}
