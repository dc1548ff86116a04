/**
 * Which Compose is on this machine: the v2+ Go implementation (`docker compose`
 * plugin, or a standalone `docker-compose` v2 binary) or the v1 Python
 * `docker-compose`. `MODELS_COMPOSE` ("docker compose", "docker-compose",
 * "podman compose", …) picks the command and skips detection.
 *
 * Facts this relies on (checked on a machine with Docker 20.10 and
 * docker-compose 1.29.2, no plugin):
 *   - `docker-compose version --short` prints `1.29.2`;
 *     `docker-compose version` prints `docker-compose version 1.29.2, build …`
 *     and then docker-py/CPython/OpenSSL lines.
 *   - without the plugin, `docker compose version` fails (exit 1, "docker:
 *     unknown command: docker compose") and `docker compose version --short`
 *     fails with exit 125 ("unknown flag: --short").
 *   - v2 prints `2.24.5` (some builds `v2.x.y`, Docker Desktop `2.24.6-desktop.1`)
 *     for `--short`, and `Docker Compose version v2.24.5` without it.
 */
import type { Shell } from 'zx';
import { loadShell } from '../shell.ts';
import { ComposeError } from '../errors.ts';

export interface ComposeEngine {
  /** 'v2' for every Go implementation (2.x … 5.x), 'v1' for the Python docker-compose 1.x */
  version: 'v2' | 'v1';
  /** argv prefix, e.g. ['docker', 'compose'] or ['docker-compose'] */
  command: string[];
  /** e.g. '2.24.5' or '1.29.2' */
  fullVersion: string;
}

export interface DetectOptions {
  /** zx shell to run commands with (tests pass one with a different PATH) */
  $?: Shell;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const VERSION_RE = /(?:^|[\s,v])v?(\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)(?=$|[\s,])/m;

/**
 * The version number in `… version --short` or `… version` output, or
 * undefined when the text holds none (an error message, empty output).
 * Only the first line that names a version is used: `docker-compose version`
 * goes on with docker-py's and CPython's versions.
 */
export function parseComposeVersion(stdout: string): string | undefined {
  for (const raw of stdout.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    // "docker-py version: 5.0.3" etc. are not Compose's version
    if (/^(docker-py|CPython|OpenSSL|docker) version/i.test(line) && !/^docker[- ]compose/i.test(line)) continue;
    const m = VERSION_RE.exec(line);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

/** 'v1' for 1.x, 'v2' for every later major (Compose jumped from v2.x to v5 in 2025). */
export function engineGeneration(fullVersion: string): 'v1' | 'v2' | undefined {
  const major = Number(/^(\d+)\./.exec(fullVersion)?.[1]);
  if (!Number.isInteger(major) || major < 1) return undefined;
  return major === 1 ? 'v1' : 'v2';
}

/** Split MODELS_COMPOSE ("docker compose", " docker-compose ") into argv. */
export function parseComposeCommand(value: string): string[] {
  return value.trim().split(/\s+/).filter((s) => s !== '');
}

async function probe(sh: Shell, command: string[]): Promise<ComposeEngine | undefined> {
  for (const args of [['version', '--short'], ['version']]) {
    const out = await sh`${[...command, ...args]}`;
    if (out.exitCode !== 0) continue;
    const fullVersion = parseComposeVersion(out.stdout);
    const generation = fullVersion === undefined ? undefined : engineGeneration(fullVersion);
    if (fullVersion && generation) return { version: generation, command, fullVersion };
  }
  return undefined;
}

/**
 * Find a working Compose: `MODELS_COMPOSE` if set (an error if it does not
 * work: the user asked for it), else `docker compose`, else `docker-compose`.
 * Undefined when neither answers; callers say so and skip what needs it.
 */
export async function detectCompose(opts: DetectOptions = {}): Promise<ComposeEngine | undefined> {
  const env = opts.env ?? process.env;
  const sh = (opts.$ ?? (await loadShell()))({ quiet: true, nothrow: true, timeout: '30s', ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  const forced = env.MODELS_COMPOSE?.trim();
  if (forced) {
    const command = parseComposeCommand(forced);
    const engine = await probe(sh, command);
    if (!engine) {
      throw new ComposeError(`MODELS_COMPOSE="${forced}" does not work: \`${forced} version\` did not print a Compose version.`, {
        code: 'ECOMPOSE_ENGINE',
        hint: 'Set MODELS_COMPOSE to a working Compose command ("docker compose" or "docker-compose"), or unset it to let modelmount find one.',
      });
    }
    return engine;
  }
  for (const command of [['docker', 'compose'], ['docker-compose']]) {
    const engine = await probe(sh, command);
    if (engine) return engine;
  }
  return undefined;
}
