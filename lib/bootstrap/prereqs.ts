/**
 * bootstrap's prerequisite checks. Each says what it found and, when it is not
 * ok, the fix. Nothing here changes anything.
 */
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DiskError, ExitCode, ModelmountError, type ExitStatus } from '../errors.ts';
import { throwIfDependencyError } from '../import-dependency.ts';
import type { Manifest } from '../manifest/schema.ts';
import type { SmokeEngine } from '../smoke/engine.ts';
import type { Source } from '../sources/types.ts';
import { checkFreeSpace, type SpaceNeed } from '../store/space.ts';
import { commandFor } from '../invocation.ts';

export interface PrereqCheck {
  id: string;
  verdict: 'ok' | 'warn' | 'error';
  message: string;
  fix?: string;
  /** exit status when this check stops the run */
  exitCode?: ExitStatus;
}

export const MIN_NODE = [20, 19] as const;

export function checkNode(version = process.versions.node): PrereqCheck {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const ok = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return ok
    ? { id: 'node', verdict: 'ok', message: `Node.js ${version}` }
    : {
        id: 'node',
        verdict: 'error',
        message: `Node.js ${version} is too old: modelmount needs ${MIN_NODE.join('.')} or later.`,
        fix: 'Install Node.js 20.19+, 22 or 24 (e.g. with nvm: `nvm install 22`).',
        exitCode: ExitCode.usage,
      };
}

/** Docker and Compose: without them the models still install, but the override is not validated and nothing is smoke-tested. */
export function checkDocker(found: SmokeEngine, smokeWanted: boolean): PrereqCheck {
  if (found.engine) return { id: 'docker', verdict: 'ok', message: `Docker engine reachable; Compose ${found.engine.fullVersion} (${found.engine.command.join(' ')})` };
  return {
    id: 'docker',
    verdict: 'warn',
    message: `${found.reason}: the models will be installed and the override written, but ${smokeWanted ? 'not validated or smoke-tested' : 'not validated'}.`,
    fix: `Start Docker (\`docker info\` must work) and install Compose v2 (\`docker compose\`) or v1 (\`docker-compose\`), then run \`${commandFor('smoke')}\`.`,
  };
}

export async function checkSpace(needs: SpaceNeed[]): Promise<PrereqCheck> {
  try {
    await checkFreeSpace(needs);
    return { id: 'disk-space', verdict: 'ok', message: 'enough free space for the selection (and its temporary files)' };
  } catch (err) {
    if (!(err instanceof DiskError)) throw err;
    return { id: 'disk-space', verdict: 'error', message: err.message, fix: err.hint, exitCode: ExitCode.disk };
  }
}

/** The host folder, or its nearest existing parent, must be a writable folder. */
export async function checkWritable(dir: string): Promise<PrereqCheck> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      const st = await fs.stat(current);
      if (!st.isDirectory()) {
        return { id: 'host-dir', verdict: 'error', message: `${current} is not a folder, so ${dir} cannot be created.`, fix: 'Choose another --host-dir.', exitCode: ExitCode.disk };
      }
      await fs.access(current, fsc.W_OK);
      return { id: 'host-dir', verdict: 'ok', message: `${dir} is writable${current === path.resolve(dir) ? '' : ` (will be created in ${current})`}` };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && path.dirname(current) !== current) {
        current = path.dirname(current);
        continue;
      }
      return {
        id: 'host-dir',
        verdict: 'error',
        message: `${current} is not writable for this user (${code}).`,
        fix: `Make it writable (e.g. \`sudo chown $USER ${current}\`) or choose another folder with --host-dir.`,
        exitCode: ExitCode.disk,
      };
    }
  }
}

/** Every token a source needs is set; the first source is probed (HEAD / folder exists). */
export async function checkSources(manifest: Manifest, sources: Source[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<PrereqCheck[]> {
  const checks: PrereqCheck[] = [];
  for (const [i, s] of sources.entries()) {
    const tokenEnv = manifest.sources.find((m) => m.name === s.name)?.tokenEnv;
    if (tokenEnv && !env[tokenEnv]) {
      checks.push({
        id: `credentials:${s.name}`,
        verdict: i === 0 ? 'error' : 'warn',
        message: `source ${s.name} needs a token in ${tokenEnv}, which is not set${i === 0 ? '' : ' (it is only a fallback)'}.`,
        fix: `export ${tokenEnv}=… (ask whoever runs ${s.display.split(' ')[0]}), or pick another source with --source.`,
        ...(i === 0 ? { exitCode: ExitCode.sources } : {}),
      });
    }
  }
  const first = sources[0];
  if (first?.probe && !checks.some((c) => c.verdict === 'error')) {
    try {
      await first.probe(signal);
      checks.push({ id: `source:${first.name}`, verdict: 'ok', message: `source ${first.display} is reachable` });
    } catch (err) {
      throwIfDependencyError(err); // not the source's fault
      checks.push({
        id: `source:${first.name}`,
        verdict: sources.length > 1 ? 'warn' : 'error',
        message: `source ${first.display} is not reachable: ${err instanceof ModelmountError ? err.message : 'error'}`,
        fix: sources.length > 1 ? 'The other sources will be tried; fix this one or pick another with --source.' : 'Check the network / VPN / mount, or pass another source with --source-url.',
        ...(sources.length > 1 ? {} : { exitCode: ExitCode.sources }),
      });
    }
  }
  return checks;
}
