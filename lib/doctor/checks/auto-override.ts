/**
 * compose-auto-override: the user's own override file (compose.override.yml and the like), which
 * Compose reads only when run without -f or COMPOSE_FILE. The models override is used with -f or
 * COMPOSE_FILE, so unless compose.files lists that file, its settings drop out of what modelmount
 * checks and smoke-tests and of `docker compose -f … up`.
 */
import path from 'node:path';
import { composeDefaultFiles } from '../../compose/default-files.ts';
import { commandFor } from '../../invocation.ts';
import type { DoctorContext, DoctorFinding } from '../check.ts';

export async function checkAutoOverride(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const id = 'compose-auto-override';
  const files = ctx.compose.files.map((f) => path.resolve(f));
  const base = files[0];
  const read = base ? await composeDefaultFiles(path.dirname(base)) : [];
  const own = read[1];
  if (read[0] !== base || !own || files.includes(own) || own === path.resolve(ctx.compose.override)) {
    return [{ id, verdict: 'ok', title: 'No override file Compose reads on its own is left out', message: `compose.files in ${ctx.manifest.path} lists every file a plain \`docker compose\` reads there.` }];
  }
  const listed = [...ctx.compose.files.map((f) => path.relative(ctx.manifest.dir, f)), path.relative(ctx.manifest.dir, own)].join(', ');
  return [
    {
      id,
      verdict: 'warn',
      title: 'An override file of yours is left out',
      file: own,
      message: `Compose reads ${path.basename(own)} next to ${path.basename(base!)} only when run without -f or COMPOSE_FILE. The models override is used with -f or COMPOSE_FILE, so ${path.basename(own)}'s settings are left out of what modelmount checks and smoke-tests and of \`docker compose -f … up\`.`,
      fix: `List it in compose.files in ${ctx.manifest.path}, after the base file — files: [${listed}] — then run \`${commandFor('compose')}\`.`,
    },
  ];
}
