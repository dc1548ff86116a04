/**
 * `modelmount manifest add <folder> --id ID` and `modelmount manifest check [FILE…]`:
 * authoring for whoever publishes a model version, and validation for the
 * model repository's CI. `add` hashes the folder (bounded, with progress),
 * edits only the artifact's lines of the manifest, validates the result and
 * writes it atomically; `check` touches nothing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Listr, ListrLogger, ProcessOutput } from 'listr2';
import type { ParsedFlags } from '../cli/args.ts';
import type { CommandSpec } from '../cli/command.ts';
import { ManifestError, UsageError, type ManifestProblem } from '../errors.ts';
import { writeFileAtomic } from '../fs-atomic.ts';
import { scanArtifactFolder } from '../manifest/scan-artifact-folder.ts';
import { diffFiles, upsertArtifact, type FileChanges } from '../manifest/upsert-artifact.ts';
import { hashArtifactFiles, type HashProgress } from '../verify/hash-artifact-files.ts';
import { loadManifest } from '../manifest/load.ts';
import { checkS3Endpoint, classifySourceUrl } from '../manifest/source-url.ts';
import { checkSafeRelativePath } from '../manifest/paths.ts';
import { ENV_NAME_RE } from '../manifest/schema.ts';
import { parseLabelFlags } from '../manifest/select.ts';
import type { FileEntry } from '../manifest/schema.ts';
import { formatBytes } from '../ui/format.ts';
import { pickRenderer } from '../ui/renderer.ts';
import { DEFAULT_MANIFEST, defaultJobs, type Io } from './context.ts';
import { JSON_FLAG } from './specs.ts';
import { commandFor, formatExamples } from '../invocation.ts';
import { relativeInside } from '../path-inside.ts';

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

export interface ManifestCheckReport {
  command: 'manifest';
  action: 'check';
  ok: true;
  manifests: { path: string; artifacts: number; files: number; bytes: number; digest: string }[];
}

/** relative to the current folder when inside it, else absolute */
function shown(cwd: string, p: string): string {
  return relativeInside(cwd, p) || p;
}

function manifestPathOf(flags: ParsedFlags, io: Io): string {
  return path.resolve(io.cwd, (flags.manifest as string | undefined) ?? DEFAULT_MANIFEST);
}

export async function hashWithProgress(
  files: Awaited<ReturnType<typeof scanArtifactFolder>>,
  folder: string,
  io: Io,
  opts: { jobs: number; json: boolean; signal: AbortSignal },
): Promise<FileEntry[]> {
  const renderer = pickRenderer({ json: opts.json, isTTY: io.isTTY, stderrIsTTY: io.stderrIsTTY, env: io.env });
  const total = files.reduce((s, f) => s + f.size, 0);
  const processOutput = new ProcessOutput(io.stderr as NodeJS.WriteStream, io.stderr as NodeJS.WriteStream);
  let result: FileEntry[] = [];
  const interval = renderer === 'default' ? 100 : 10_000;
  const list = new Listr(
    [
      {
        title: `Hash ${files.length} file${files.length === 1 ? '' : 's'} (${formatBytes(total)}) in ${folder}`,
        task: async (_ctx: unknown, task) => {
          let last = 0;
          const show = (p: HashProgress, force = false) => {
            const now = Date.now();
            if (!force && now - last < interval) return;
            last = now;
            task.output = `${p.files}/${p.totalFiles} files, ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}`;
          };
          result = await hashArtifactFiles(files, { jobs: opts.jobs, signal: opts.signal, onProgress: (p) => show(p, p.files === p.totalFiles) });
          task.title = `Hashed ${files.length} file${files.length === 1 ? '' : 's'} (${formatBytes(total)}) in ${folder}`;
        },
      },
    ],
    {
      renderer,
      fallbackRenderer: 'simple',
      registerSignalListeners: false,
      exitOnError: true,
      rendererOptions: { logger: new ListrLogger({ processOutput }) },
      fallbackRendererOptions: { logger: new ListrLogger({ processOutput }) },
    } as never,
  );
  await list.run();
  return result;
}

/** `manifest add s3://bucket/prefix/`: the objects under the prefix (their checksum, or hashed while streamed). */
async function filesFromS3(url: string, flags: ParsedFlags, io: Io, jobs: number, json: boolean, signal: AbortSignal): Promise<{ folder: string; files: FileEntry[] }> {
  const c = classifySourceUrl(url, io.cwd);
  if ('error' in c) throw new UsageError(`${url}: ${c.error}.`, { hint: c.fix });
  const endpoint = flags.endpoint as string | undefined;
  const bad = endpoint === undefined ? undefined : checkS3Endpoint(endpoint, false);
  if (bad) throw new UsageError(`--endpoint: ${bad.error}.`, { hint: bad.fix });
  const { listS3Artifact } = await import('../sources/s3/s3-author.ts');
  const listed = await listS3Artifact(
    {
      name: 's3',
      kind: 's3',
      base: c.base,
      ...(endpoint ? { endpoint } : {}),
      ...(flags.region ? { region: flags.region as string } : {}),
      ...(flags.profile ? { profile: flags.profile as string } : {}),
    },
    { env: io.env, jobs, signal, ...(json ? {} : { onFile: (f) => io.stderr.write(`${f.via === 'checksum' ? 'Checksum' : 'Hashed'} ${f.path} (${formatBytes(f.size)})\n`) }) },
  );
  return { folder: c.base, files: listed.map(({ path: p, size, sha256 }) => ({ path: p, size, sha256 })) };
}

export async function manifestAdd(flags: ParsedFlags, io: Io, signal: AbortSignal): Promise<ManifestAddReport> {
  const [, folderArg, ...extra] = flags._;
  if (!folderArg || extra.length) {
    throw new UsageError(folderArg ? `manifest add takes one folder, got ${[folderArg, ...extra].join(' ')}.` : 'manifest add needs the folder that holds the artifact files.', {
      hint: `e.g. ${commandFor('manifest add', './out/student_ja --id student/v1_ja --labels role=student,lang=ja')}`,
    });
  }
  const id = flags.id as string | undefined;
  if (!id) throw new UsageError('manifest add needs --id, the artifact id (its folder in the host folder), e.g. --id student/v1_ja.');
  const unsafe = checkSafeRelativePath(id);
  if (unsafe) throw new UsageError(`--id ${JSON.stringify(id)} ${unsafe}.`, { hint: 'Use a relative POSIX path like student/v1_ja.' });
  const env = flags.env as string | undefined;
  if (env !== undefined && !ENV_NAME_RE.test(env)) throw new UsageError(`--env ${JSON.stringify(env)} is not an environment variable name.`, { hint: 'e.g. --env LEARNING_MACHINE_STUDENT_JA_DIR' });
  let labels: Record<string, string> | undefined;
  const labelFlags = flags.labels as string[] | undefined;
  if (labelFlags?.length) {
    labels = {};
    for (const [k, vs] of Object.entries(parseLabelFlags(labelFlags))) {
      if (vs.length !== 1) throw new UsageError(`--labels ${k}=${vs.join(',')}: an artifact has one value per label.`, { hint: `e.g. --labels ${k}=${vs[0]}` });
      labels[k] = vs[0]!;
    }
  }
  const manifestPath = manifestPathOf(flags, io);
  // read and validate before hashing for minutes: a broken or missing manifest is reported at once
  await loadManifest(manifestPath, { env: io.env });
  const json = Boolean(flags.json);
  const jobs = (flags.jobs as number | undefined) ?? defaultJobs();
  let folder: string;
  let files: FileEntry[];
  if (/^s3:\/\//i.test(folderArg)) {
    ({ folder, files } = await filesFromS3(folderArg, flags, io, jobs, json, signal));
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
    ...(flags.description !== undefined ? { description: flags.description as string } : {}),
    ...(flags.optional ? { optional: true } : {}),
  });
  const dryRun = Boolean(flags['dry-run']);
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

export async function manifestCheck(flags: ParsedFlags, io: Io): Promise<ManifestCheckReport> {
  const given = flags._.slice(1);
  const paths = given.length ? given.map((g) => path.resolve(io.cwd, g)) : [manifestPathOf(flags, io)];
  const problems: ManifestProblem[] = [];
  const ok: ManifestCheckReport['manifests'] = [];
  for (const p of paths) {
    try {
      const m = await loadManifest(p, { env: io.env });
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

function formatAdd(r: ManifestAddReport, cwd: string): string {
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

function formatCheck(r: ManifestCheckReport, cwd: string): string {
  return `${r.manifests
    .map((m) => `OK: ${shown(cwd, m.path)}: ${m.artifacts} artifact${m.artifacts === 1 ? '' : 's'}, ${m.files} file${m.files === 1 ? '' : 's'}, ${formatBytes(m.bytes)}; digest ${m.digest.slice(0, 16)}…`)
    .join('\n')}\n`;
}

export const manifestCommand: CommandSpec = {
  name: 'manifest',
  operands: 'own',
  summary: 'author the manifest: `add <folder> --id ID` hashes a folder into an artifact entry; `check` validates (exit 2 on errors)',
  usage: 'modelmount manifest add <folder | s3://bucket/prefix/> --id ID [--labels K=V] [--env NAME] [--description TEXT] [--optional] [--dry-run] | modelmount manifest check [FILE...]',
  flags: [
    { name: 'id', type: 'string', value: 'ID', help: 'add: the artifact id, e.g. student/v1_ja (its folder under the host folder)' },
    { name: 'labels', type: 'list', value: 'K=V', help: 'add: labels, e.g. role=student,lang=ja (replace the existing labels)' },
    { name: 'env', type: 'string', value: 'NAME', help: 'add: environment variable that gets the container path, e.g. LEARNING_MACHINE_STUDENT_JA_DIR' },
    { name: 'description', type: 'string', value: 'TEXT', help: 'add: one line describing the artifact' },
    { name: 'optional', type: 'boolean', help: 'add: mark the artifact optional (installed only when asked for)' },
    { name: 'dry-run', type: 'boolean', help: 'add: hash and show the entry, write nothing' },
    { name: 'endpoint', type: 'string', value: 'URL', help: 'add s3://…: an S3-compatible server (path-style), e.g. http://127.0.0.1:7480' },
    { name: 'region', type: 'string', value: 'NAME', help: 'add s3://…: the bucket region (default: AWS_REGION, the profile, us-east-1 with --endpoint)' },
    { name: 'profile', type: 'string', value: 'NAME', help: 'add s3://…: the AWS profile for credentials' },
    { name: 'jobs', type: 'number', value: 'N', env: 'MODELS_JOBS', alias: 'j', help: 'add: files hashed at once (default 1 per core, 2 to 4)' },
    JSON_FLAG,
  ],
  get details() {
    return `add refuses symlinks, sockets and unsafe or colliding file names; an existing artifact with the
same id gets its files replaced (and the labels/env/description given); every other line of
the manifest, comments included, stays as it was. The result is validated before it is written.
check validates every FILE (default: --manifest) and lists every problem with file:line:column.

Examples:
${formatExamples([
  [commandFor('manifest add', './out/student_ja --id student/v1_ja --labels role=student,lang=ja')],
  [commandFor('manifest check'), "in the model repository's CI"],
])}`;
  },
  async run(flags, io, signal) {
    const sub = flags._[0];
    if (sub === 'add') {
      const report = await manifestAdd(flags, io, signal);
      io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatAdd(report, io.cwd));
      return 0;
    }
    if (sub === 'check') {
      const report = await manifestCheck(flags, io);
      io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatCheck(report, io.cwd));
      return 0;
    }
    throw new UsageError(sub ? `Unknown manifest subcommand "${sub}".` : 'manifest needs a subcommand: add or check.', {
      hint: `${commandFor('manifest add', '<folder> --id <id>')}, or ${commandFor('manifest check')}. See ${commandFor('manifest', '--help')}.`,
    });
  },
};
