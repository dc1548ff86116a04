/** compose-engine-missing / compose-config-invalid: did Compose merge the project files? */
import path from 'node:path';
import { commandFor } from '../../invocation.ts';
import { formatCommandLine } from '../../shell.ts';
import type { DoctorContext, DoctorFinding } from '../check.ts';

const MERGED_CHECKS = 'dockerignore-excludes-artifacts (mount part), mount-missing, mount-writable, mount-source-mismatch, env-mismatch';

export function checkComposeEngine(ctx: DoctorContext): DoctorFinding[] {
  if (!ctx.engine) {
    return [
      {
        id: 'compose-engine-missing',
        verdict: 'warn',
        title: 'No Compose found: the merged-config checks were skipped',
        message: `Neither \`docker compose\` nor \`docker-compose\` answered${ctx.mergedUnavailable ? ` (${ctx.mergedUnavailable})` : ''}, so modelmount could not ask Compose what it will mount. Skipped: ${MERGED_CHECKS}. Nothing was inferred from reading the Compose files alone.`,
        fix: 'Install Docker Compose v2 (the `docker compose` plugin) or docker-compose, or set MODELS_COMPOSE to the command, and run doctor again.',
      },
    ];
  }
  if (!ctx.merged) {
    return [
      {
        id: 'compose-config-invalid',
        verdict: 'error',
        title: 'Compose rejects the project files',
        file: ctx.configFiles[ctx.configFiles.length - 1],
        message: `${formatCommandLine([...ctx.engine.command, ...ctx.configFiles.flatMap((f) => ['-f', f]), 'config'])} failed, so nothing about the mounts could be checked:\n${ctx.mergedUnavailable ?? ''}`,
        fix: `Fix the file Compose names above. If it is the generated override, regenerate it with \`${commandFor('compose')}\` instead of editing it.`,
      },
    ];
  }
  return [
    {
      id: 'compose-engine-missing',
      verdict: 'ok',
      title: `Compose ${ctx.engine.fullVersion} (${ctx.engine.command.join(' ')}) merges the project files`,
      message: `Checked the merged result of ${ctx.configFiles.map((f) => path.relative(ctx.cwd, f) || f).join(', ')}.`,
    },
  ];
}
