/**
 * How the user ran modelmount, so every hint and generated header names the next command the
 * way they can type it: `npm run models:compose` from one of their npm scripts, `npx modelmount
 * compose` from npx, else `modelmount compose`. Decided once per run (runCli), from npm's
 * environment (npm_lifecycle_event / npm_lifecycle_script / npm_package_json, npm_command) and
 * process.argv; every hint string goes through commandFor().
 */
import fs from 'node:fs';

export type InvocationStyle = 'npm-script' | 'npx' | 'bin';

export interface Invocation {
  style: InvocationStyle;
  /** npm-script: modelmount subcommand → the project's script that runs it (e.g. compose → models:compose) */
  scripts: Record<string, string>;
}

/** A script that runs modelmount: `modelmount update …`, `node bin/modelmount.mjs update …`, `npx modelmount update`. */
const RUNS_MODELMOUNT = /(?:^|[\s/])modelmount(?:\.mjs)?\s+([a-z][a-z-]*)(?:\s|$)/;

function scriptsOf(packageJson: string | undefined): Record<string, string> {
  if (!packageJson) return {};
  try {
    const pkg = JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { scripts?: Record<string, unknown> };
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(pkg.scripts ?? {})) {
      const sub = typeof value === 'string' ? RUNS_MODELMOUNT.exec(value)?.[1] : undefined;
      // the first script for a subcommand wins, models:* before the rest
      if (sub && (!out[sub] || (name.startsWith('models:') && !out[sub]!.startsWith('models:')))) out[sub] = name;
    }
    return out;
  } catch {
    return {};
  }
}

export function detectInvocation(env: NodeJS.ProcessEnv, argv: readonly string[] = process.argv): Invocation {
  const script = env.npm_lifecycle_script;
  if (env.npm_lifecycle_event && script && RUNS_MODELMOUNT.test(script) && env.npm_command !== 'exec') {
    return { style: 'npm-script', scripts: scriptsOf(env.npm_package_json) };
  }
  if (env.npm_command === 'exec' || /[\\/]_npx[\\/]/.test(argv[1] ?? '')) return { style: 'npx', scripts: {} };
  return { style: 'bin', scripts: {} };
}

let current: Invocation = { style: 'bin', scripts: {} };

/** Set by runCli for the run; tests set it to check each style. */
export function setInvocation(inv: Invocation): void {
  current = inv;
}

/**
 * The command line that runs `modelmount <sub> <args>` the way the user runs modelmount:
 * commandFor('compose', '--print') → `npm run models:compose -- --print` | `npx modelmount compose --print` | `modelmount compose --print`.
 * From an npm script, a subcommand the project has no script for is given as `npx modelmount …`.
 */
export function commandFor(sub: string, args = '', inv: Invocation = current): string {
  const tail = args ? ` ${args}` : '';
  if (inv.style === 'npm-script') {
    const script = inv.scripts[sub.split(' ')[0]!];
    if (script) {
      const rest = `${sub.split(' ').slice(1).join(' ')}${tail}`.trim();
      return `npm run ${script}${rest ? ` -- ${rest}` : ''}`;
    }
    return `npx modelmount ${sub}${tail}`;
  }
  return `${inv.style === 'npx' ? 'npx ' : ''}modelmount ${sub}${tail}`;
}

/** Help examples: each command line (from commandFor) with its comment, aligned. */
export function formatExamples(rows: readonly (readonly [command: string, comment?: string])[]): string {
  const width = Math.max(...rows.map(([c]) => c.length));
  return rows.map(([c, comment]) => `  ${comment ? `${c.padEnd(width)}   # ${comment}` : c}`).join('\n');
}
