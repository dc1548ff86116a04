/**
 * `modelmount init`'s pure half: which folders of an artifacts tree are artifacts, and the
 * commented manifest text for the answers (validated with parseManifest before it is returned).
 *
 *   artifacts tree ──findArtifactFolders──▶ [{id, folder}]   (then scan + hash: ./scan-artifact-folder.ts, lib/verify/hash-artifact-files.ts)
 *   answers + entries ──renderInitManifest──▶ commented YAML that `manifest check` accepts
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Document, isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap } from 'yaml';
import { UsageError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import { parseManifest } from './load.ts';
import { isSameOrInside } from '../path-inside.ts';
import { checkSafeRelativePath } from './paths.ts';
import { sortedFileEntries, type FileEntry, type Manifest } from './schema.ts';

/** modelmount's own metadata folder in a host folder: never an artifact */
const METADATA_DIR = '.modelmount';

export interface ArtifactFolder {
  id: string;
  folder: string;
}

/**
 * The artifacts of a tree: each topmost folder that directly holds something other than folders
 * (its id is its path below `root`; everything below it belongs to it). Files directly in `root`
 * are refused: every artifact needs a folder of its own.
 */
export async function findArtifactFolders(root: string): Promise<ArtifactFolder[]> {
  const st = await fs.stat(root).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new UsageError(`${root} is not a folder.`, {
      code: 'ENOFOLDER',
      hint: 'Give the folder that holds one sub-folder per artifact, e.g. --from ./artifacts with ./artifacts/student/v0_ja/model.safetensors.',
    });
  }
  const found: ArtifactFolder[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = (await fs.readdir(dir, { withFileTypes: true }))
      .filter((e) => !(rel === '' && e.name === METADATA_DIR))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const holdsFiles = entries.some((e) => !e.isDirectory());
    if (holdsFiles) {
      if (rel === '') {
        const names = entries.filter((e) => !e.isDirectory()).map((e) => e.name);
        throw new UsageError(`${root} holds files directly (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}); each artifact needs a folder of its own.`, {
          code: 'EUNSAFEFOLDER',
          hint: `Move the files into a sub-folder named after the artifact (e.g. ${path.join(root, 'model', 'v1')}/), or give that sub-folder's parent with --from.`,
        });
      }
      found.push({ id: rel, folder: dir });
      return;
    }
    for (const e of entries) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      const unsafe = checkSafeRelativePath(childRel);
      if (unsafe) throw new UsageError(`${path.join(dir, e.name)}: ${JSON.stringify(childRel)} ${unsafe}, so it cannot be an artifact id.`, { code: 'EUNSAFEFOLDER', hint: 'Rename the folder, then run init again.' });
      await walk(path.join(dir, e.name), childRel);
    }
  };
  await walk(root, '');
  if (found.length === 0) {
    throw new UsageError(`${root} holds no files.`, { code: 'EEMPTYFOLDER', hint: 'Put each artifact in a sub-folder (e.g. student/v0_ja/model.safetensors), or give another folder with --from.' });
  }
  return found;
}

export interface InitArtifact {
  id: string;
  labels: Record<string, string>;
  files: FileEntry[];
}

export interface InitAnswers {
  /** absolute path the manifest is written to */
  manifestPath: string;
  /** absolute: the folder init ran in; paths below it are written relative to the manifest, others absolute */
  projectDir: string;
  /** absolute */
  hostDir: string;
  /** in order: http(s) URLs, file:// URLs or absolute folder paths */
  sources: string[];
  artifacts: InitArtifact[];
  compose?: {
    /** absolute */
    files: string[];
    services: string[];
    /** absolute */
    override: string;
    containerDir: string;
  };
  /** the app's own load check, run with `sh -c` in each service's container */
  smokeCommand?: string;
}

/**
 * A path as the manifest writes it, POSIX separators: one in the project relative to the manifest's
 * folder (it moves with the checkout), one outside it (a shared mount, /srv/models) absolute, so the
 * manifest still finds it in a checkout at another depth on another host.
 */
function fromManifest(a: Pick<InitAnswers, 'manifestPath' | 'projectDir'>, p: string): string {
  const rel = isSameOrInside(p, a.projectDir) ? path.relative(path.dirname(a.manifestPath), p) : p;
  return (rel === '' ? '.' : rel).split(path.sep).join('/');
}

/** Source names in order: main, fallback, fallback-2, … */
export function sourceNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? 'main' : i === 1 ? 'fallback' : `fallback-${i}`));
}

function sourceUrl(a: Pick<InitAnswers, 'manifestPath' | 'projectDir'>, url: string): string {
  if (/^https?:\/\//i.test(url)) return url.endsWith('/') ? url : `${url}/`;
  if (/^file:/i.test(url)) return url;
  return fromManifest(a, path.resolve(url));
}

function comment(node: Node | Pair | undefined, text: string, blankBefore = true): void {
  const key = (node as Pair | undefined)?.key as Node | undefined;
  if (!key) return;
  key.commentBefore = text
    .split('\n')
    .map((l) => ` ${l}`)
    .join('\n');
  key.spaceBefore = blankBefore;
}

function header(): string {
  return `modelmount manifest, written by \`${commandFor('init')}\`: edit it freely, then check it with
\`${commandFor('manifest check')}\`. Relative paths resolve against this file's folder.
Every key is described in the "Manifest reference" section of modelmount's README.`;
}

/**
 * The commented manifest for the answers. Throws ManifestError (exit 2, every problem) when the
 * answers do not make a valid manifest, so init never writes one that `manifest check` refuses.
 */
export function renderInitManifest(a: InitAnswers): { text: string; manifest: Manifest } {
  const names = sourceNames(a.sources.length);
  const value: Record<string, unknown> = {
    version: 1,
    hostDir: fromManifest(a, a.hostDir),
    sources: a.sources.map((url, i) => ({ name: names[i], url: sourceUrl(a, url) })),
    artifacts: a.artifacts.map((x) => ({
      id: x.id,
      ...(Object.keys(x.labels).length ? { labels: x.labels } : {}),
      files: sortedFileEntries(x.files),
    })),
  };
  if (a.compose) {
    value.compose = {
      files: a.compose.files.map((f) => fromManifest(a, f)),
      services: a.compose.services,
      override: fromManifest(a, a.compose.override),
      containerDir: a.compose.containerDir,
    };
  }
  if (a.smokeCommand) value.smoke = { command: ['sh', '-c', a.smokeCommand], timeoutSeconds: 300 };

  const doc = new Document(value);
  const root = doc.contents as YAMLMap;
  doc.commentBefore = header().split('\n')
    .map((l) => ` ${l}`)
    .join('\n');
  const pair = (key: string) => root.items.find((p) => isScalar(p.key) && p.key.value === key);
  comment(pair('version'), 'Manifest format version.', false);
  comment(
    pair('hostDir'),
    'Host folder of the verified artifacts: artifact <id> is installed in <hostDir>/<id>/ and\nbind-mounted read-only into the services. Add `cacheDir:` for the store (default ~/.cache/modelmount;\non macOS ~/Library/Caches/modelmount).',
  );
  comment(pair('sources'), 'Where the files come from, tried in order for each file: <url><artifact id>/<file path>.\nA source that needs a bearer token: add `tokenEnv: MODELS_TOKEN` (the variable\'s name, never the token).');
  comment(
    pair('artifacts'),
    `The artifacts, hashed from their folders. Add or update one with\n\`${commandFor('manifest add', '<folder> --id <id> [--labels k=v] [--env VAR] [--optional]')}\`.\nAt least one of a set must be installed? Add a rule:\nrequire:\n  - anyOf: [first/id, second/id]`,
  );
  const artifacts = pair('artifacts')?.value;
  if (isSeq(artifacts)) {
    for (const item of artifacts.items) {
      if (!isMap(item)) continue;
      const labels = item.get('labels', true);
      if (isMap(labels)) labels.flow = true;
      const files = item.get('files', true);
      if (isSeq(files)) for (const f of files.items) if (isMap(f)) f.flow = true;
    }
  }
  comment(
    pair('compose'),
    'The Compose side: your base files (never edited), the services that load the models, the\noverride modelmount writes (one read-only mount per artifact), and where artifact <id>\nappears in the containers: <containerDir>/<id>.',
  );
  const composeFiles = isMap(pair('compose')?.value) ? ((pair('compose')!.value as YAMLMap).get('files', true) as Node | undefined) : undefined;
  if (isSeq(composeFiles)) composeFiles.flow = true;
  const services = isMap(pair('compose')?.value) ? ((pair('compose')!.value as YAMLMap).get('services', true) as Node | undefined) : undefined;
  if (isSeq(services)) services.flow = true;
  comment(pair('smoke'), "The app's own load check, run in a one-off container of each service without network.");
  const smokeCommand = isMap(pair('smoke')?.value) ? ((pair('smoke')!.value as YAMLMap).get('command', true) as Node | undefined) : undefined;
  if (isSeq(smokeCommand)) smokeCommand.flow = true;

  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  return { text, manifest: parseManifest(text, a.manifestPath) };
}
