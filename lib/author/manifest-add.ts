/**
 * `manifest add <folder> --id ID`: authoring for whoever publishes a model version. Hashes the
 * folder (bounded, with progress; or lists an s3:// prefix), edits only the artifact's lines of
 * the manifest, validates the result and writes it atomically.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { writeFileAtomic } from '../fs-atomic.ts';
import { commandFor } from '../invocation.ts';
import type { Io } from '../io.ts';
import { diffFiles, upsertArtifact, type FileChanges } from '../manifest/upsert-artifact.ts';
import { scanArtifactFolder } from '../manifest/scan-artifact-folder.ts';
import { checkS3Endpoint, classifySourceUrl } from '../manifest/source-url.ts';
import { loadManifest } from '../manifest/load.ts';
import { checkSafeRelativePath } from '../manifest/paths.ts';
import { ENV_NAME_RE, type FileEntry } from '../manifest/schema.ts';
import { parseLabelFlags } from '../manifest/select.ts';
import { relativeInside } from '../path-inside.ts';
import { defaultJobs, manifestPathOf } from '../run-context.ts';
import { formatBytes } from '../ui/format.ts';
import { hashWithProgress } from './hash-progress.ts';

export interface ManifestAddReport {
  command: 'manifest';
  action: 'add';
  ok: true;
  dryRun: boolean;
  manifest: string;
  folder: string;
  id: string;
  /** true when the artifact is new in the manifest */
  created: boolean;
  files: FileEntry[];
  bytes: number;
  changes: FileChanges;
  /** new manifest digest */
  digest: string;
}

export interface ManifestAddOptions {
  /** the manifest as given (default manifests/models.yaml) */
  manifest?: string;
  /** the words after `add`: one folder (or s3:// URL) */
  args: string[];
  id?: string;
  labels?: string[];
  env?: string;
  description?: string;
  optional?: boolean;
  dryRun?: boolean;
  endpoint?: string;
  region?: string;
  profile?: string;
  jobs?: number;
  json?: boolean;
}

/** relative to the current folder when inside it, else absolute */
function shown(cwd: string, p: string): string {
  return relativeInside(cwd, p) || p;
}

/** `manifest add s3://bucket/prefix/`: the objects under the prefix (their checksum, or hashed while streamed). */
async function filesFromS3(url: string, opts: ManifestAddOptions, io: Io, jobs: number, json: boolean, signal: AbortSignal): Promise<{ folder: string; files: FileEntry[] }> {
  const c = classifySourceUrl(url, io.cwd);
  if ('error' in c) throw new UsageError(`${url}: ${c.error}.`, { hint: c.fix });
  const endpoint = opts.endpoint;
  const bad = endpoint === undefined ? undefined : checkS3Endpoint(endpoint, false);
  if (bad) throw new UsageError(`--endpoint: ${bad.error}.`, { hint: bad.fix });
  const { listS3Artifact } = await import('../sources/s3/s3-author.ts');
  const listed = await listS3Artifact(
    {
      name: 's3',
      kind: 's3',
      base: c.base,
      ...(endpoint ? { endpoint } : {}),
      ...(opts.region ? { region: opts.region } : {}),
      ...(opts.profile ? { profile: opts.profile } : {}),
    },
    { env: io.env, jobs, signal, ...(json ? {} : { onFile: (f) => io.stderr.write(`${f.via === 'checksum' ? 'Checksum' : 'Hashed'} ${f.path} (${formatBytes(f.size)})\n`) }) },
  );
  return { folder: c.base, files: listed.map(({ path: p, size, sha256 }) => ({ path: p, size, sha256 })) };
}

export async function manifestAdd(opts: ManifestAddOptions, io: Io, signal: AbortSignal): Promise<ManifestAddReport> {
  const [folderArg, ...extra] = opts.args;
  if (!folderArg || extra.length) {
    throw new UsageError(folderArg ? `manifest add takes one folder, got ${[folderArg, ...extra].join(' ')}.` : 'manifest add needs the folder that holds the artifact files.', {
      hint: `e.g. ${commandFor('manifest add', './out/student_ja --id student/v1_ja --labels role=student,lang=ja')}`,
    });
  }
  const id = opts.id;
  if (!id) throw new UsageError('manifest add needs --id, the artifact id (its folder in the host folder), e.g. --id student/v1_ja.');
  const unsafe = checkSafeRelativePath(id);
  if (unsafe) throw new UsageError(`--id ${JSON.stringify(id)} ${unsafe}.`, { hint: 'Use a relative POSIX path like student/v1_ja.' });
  const env = opts.env;
  if (env !== undefined && !ENV_NAME_RE.test(env)) throw new UsageError(`--env ${JSON.stringify(env)} is not an environment variable name.`, { hint: 'e.g. --env LEARNING_MACHINE_STUDENT_JA_DIR' });
  let labels: Record<string, string> | undefined;
  const labelFlags = opts.labels;
  if (labelFlags?.length) {
    labels = {};
    for (const [k, vs] of Object.entries(parseLabelFlags(labelFlags))) {
      if (vs.length !== 1) throw new UsageError(`--labels ${k}=${vs.join(',')}: an artifact has one value per label.`, { hint: `e.g. --labels ${k}=${vs[0]}` });
      labels[k] = vs[0]!;
    }
  }
  const manifestPath = manifestPathOf(opts, io);
  // read and validate before hashing for minutes: a broken or missing manifest is reported at once
  await loadManifest(manifestPath, { env: io.env, signal });
  const json = Boolean(opts.json);
  const jobs = opts.jobs ?? defaultJobs();
  let folder: string;
  let files: FileEntry[];
  if (/^s3:\/\//i.test(folderArg)) {
    ({ folder, files } = await filesFromS3(folderArg, opts, io, jobs, json, signal));
  } else {
    folder = path.resolve(io.cwd, folderArg);
    const scanned = await scanArtifactFolder(folder);
    files = await hashWithProgress(scanned, shown(io.cwd, folder), io, { jobs, json, signal });
  }
  signal.throwIfAborted();
  // read again: the edit applies to what is on disk now
  const text = await fs.readFile(manifestPath, 'utf8');
  const result = upsertArtifact(text, manifestPath, {
    id,
    files,
    ...(labels ? { labels } : {}),
    ...(env !== undefined ? { env } : {}),
    ...(opts.description !== undefined ? { description: opts.description } : {}),
    ...(opts.optional ? { optional: true } : {}),
  });
  const dryRun = Boolean(opts.dryRun);
  if (!dryRun && result.text !== text) {
    // a symlinked manifest (shared by several projects) is written through: the link stays, its
    // target is replaced atomically in its own folder
    const target = await fs.realpath(manifestPath);
    const mode = (await fs.stat(target)).mode & 0o777;
    await writeFileAtomic(target, result.text, mode);
  }
  const sorted = result.manifest.artifacts.find((a) => a.id === id)!.files;
  return {
    command: 'manifest',
    action: 'add',
    ok: true,
    dryRun,
    manifest: manifestPath,
    folder,
    id,
    created: result.created,
    files: sorted.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    bytes: sorted.reduce((s, f) => s + f.size, 0),
    changes: diffFiles(result.previous, sorted),
    digest: result.manifest.digest,
  };
}

export function formatAdd(r: ManifestAddReport, cwd: string): string {
  const where = shown(cwd, r.manifest);
  const c = r.changes;
  const what = r.created
    ? `Added ${r.id} (${r.files.length} file${r.files.length === 1 ? '' : 's'}, ${formatBytes(r.bytes)})`
    : c.added.length + c.removed.length + c.changed.length === 0
      ? `${r.id} is already up to date (${r.files.length} file${r.files.length === 1 ? '' : 's'}, ${formatBytes(r.bytes)})`
      : `Updated ${r.id}: ${c.changed.length} changed, ${c.added.length} added, ${c.removed.length} removed, ${c.unchanged} unchanged`;
  const lines = [`${r.dryRun ? '(dry run, nothing written) ' : ''}${what} ${r.created || !r.dryRun ? 'in' : 'for'} ${where}.`];
  for (const f of r.files) lines.push(`  ${f.sha256.slice(0, 12)}…  ${formatBytes(f.size).padStart(10)}  ${f.path}`);
  if (!r.dryRun) lines.push(`  → publish the files at <source>/${r.id}/…, then \`${commandFor('manifest check')}\` and commit ${where}.`);
  return `${lines.join('\n')}\n`;
}
