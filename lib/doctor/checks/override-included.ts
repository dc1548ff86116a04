/** override-not-included: does anything make Compose read the override (COMPOSE_FILE, include:, the automatic override name)? */
import path from 'node:path';
import { composeDefaultFiles } from '../../compose/default-files.ts';
import { composeInvocation } from '../../compose/invocation.ts';
import { readIncludes } from '../../compose/read-compose-file.ts';
import type { DoctorContext, DoctorFinding } from '../check.ts';

export async function checkOverrideIncluded(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const id = 'override-not-included';
  const override = path.resolve(ctx.compose.override);
  const inv = composeInvocation(ctx.manifest, ctx.engine, { cwd: ctx.cwd });
  const base = ctx.compose.files[0];
  const notIncluded = (message: string, extra: Partial<DoctorFinding> = {}): DoctorFinding[] => [
    { id, verdict: 'warn', title: 'Compose may not read the override', file: ctx.compose.override, message, fix: inv.guidance, ...extra },
  ];

  // 1. COMPOSE_FILE in the environment, else in the project's .env (Compose reads both)
  const composeFile = ctx.composeFile?.setting;
  const listed = composeFile?.files;
  if (listed?.includes(override)) {
    return [{ id, verdict: 'ok', title: 'COMPOSE_FILE includes the override', message: `${composeFile!.from} lists ${ctx.compose.override}.` }];
  }

  // 2. include: in a base file (Compose v2.20.3+), merged together with the base: `path: [base, override]`
  const candidates = listed ?? ctx.compose.files;
  for (const file of candidates) {
    for (const inc of await readIncludes(file, { signal: ctx.signal })) {
      const resolved = inc.paths.map((p) => path.resolve(path.dirname(file), p));
      const at = resolved.indexOf(override);
      if (at === -1) continue;
      if (at > 0) {
        const v1 = ctx.engine?.version === 'v1' ? ' Note: docker-compose v1 does not support `include:`; use Compose v2.20.3+.' : '';
        return [{ id, verdict: v1 ? 'warn' : 'ok', title: 'A base file includes the override', file, line: inc.line, message: `${file} includes ${ctx.compose.override} merged after ${inc.paths.slice(0, at).join(', ')}.${v1}`, ...(v1 ? { fix: inv.guidance } : {}) }];
      }
      return notIncluded(
        `${file} includes ${ctx.compose.override} on its own. Compose loads an included file as a separate project, so its partial \`${ctx.compose.services.join('`, `')}\` service conflicts with yours instead of being merged into it.`,
        { file, line: inc.line },
      );
    }
  }
  if (composeFile) {
    return notIncluded(`${composeFile.from} is set to "${composeFile.value}" and does not list ${ctx.compose.override}: Compose will not read the override, so the models are not mounted.`);
  }

  // 3. without -f Compose reads the default base file and the automatic override file next to it
  if (ctx.compose.files.length === 1 && base && path.dirname(override) === path.dirname(base)) {
    const read = await composeDefaultFiles(path.dirname(base), [override, path.resolve(base)]);
    if (read[0] === path.resolve(base) && read[1] === override) {
      return [{ id, verdict: 'ok', title: 'The override has the default override name', message: `Compose reads ${path.basename(override)} automatically next to ${path.basename(base)} when run in ${path.dirname(base)} without -f or COMPOSE_FILE.` }];
    }
  }
  return notIncluded(
    `Nothing makes Compose read ${ctx.compose.override}: it is not in COMPOSE_FILE, not included by ${ctx.compose.files.map((f) => path.basename(f)).join(', ')}, and not the default override name. A plain \`docker compose up\` would start without the model mounts. (If your scripts pass -f, this is fine.)`,
  );
}
