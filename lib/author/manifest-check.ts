/** `manifest check [FILE…]`: validate manifests (every problem with file:line:column); touches nothing. */
import path from 'node:path';
import { ManifestError, type ManifestProblem } from '../errors.ts';
import type { Io } from '../io.ts';
import { loadManifest } from '../manifest/load.ts';
import { relativeInside } from '../path-inside.ts';
import { manifestPathOf } from '../run-context.ts';
import { formatBytes } from '../ui/format.ts';

export interface ManifestCheckReport {
  command: 'manifest';
  action: 'check';
  ok: true;
  manifests: { path: string; artifacts: number; files: number; bytes: number; digest: string }[];
}

/** `manifest add` flags */
/** `files`: the manifests to check as given; none: the one `manifest` names (default manifests/models.yaml). `signal`: the run's. */
export async function manifestCheck(opts: { manifest?: string; files: string[] }, io: Io, signal?: AbortSignal): Promise<ManifestCheckReport> {
  const given = opts.files;
  const paths = given.length ? given.map((g) => path.resolve(io.cwd, g)) : [manifestPathOf(opts, io)];
  const problems: ManifestProblem[] = [];
  const ok: ManifestCheckReport['manifests'] = [];
  for (const p of paths) {
    try {
      const m = await loadManifest(p, { env: io.env, signal });
      const files = m.artifacts.flatMap((a) => a.files);
      ok.push({ path: m.path, artifacts: m.artifacts.length, files: files.length, bytes: files.reduce((s, f) => s + f.size, 0), digest: m.digest });
    } catch (err) {
      if (err instanceof ManifestError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (problems.length) throw new ManifestError(problems);
  return { command: 'manifest', action: 'check', ok: true, manifests: ok };
}

export function formatCheck(r: ManifestCheckReport, cwd: string): string {
  return `${r.manifests
    .map((m) => `OK: ${relativeInside(cwd, m.path) || m.path}: ${m.artifacts} artifact${m.artifacts === 1 ? '' : 's'}, ${m.files} file${m.files === 1 ? '' : 's'}, ${formatBytes(m.bytes)}; digest ${m.digest.slice(0, 16)}…`)
    .join('\n')}\n`;
}
