/**
 * Manifest authoring: add an artifact to the manifest text, or replace its files.
 *
 *   text ──upsertArtifact──▶ new text (only the artifact's own lines change; comments,
 *                            order and formatting elsewhere stay byte-for-byte) ──parseManifest──▶ valid
 *
 * The edit goes through the yaml Document API: the node ranges of the parsed
 * document say exactly which bytes to replace. When a range cannot be used
 * (flow-style `artifacts: [...]`), the whole document is re-serialised from the
 * edited Document instead — comments survive that too, formatting may not.
 */
import { Document, isMap, isScalar, isSeq, parseDocument, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import { UsageError } from '../errors.ts';
import { parseManifest } from './load.ts';
import { sortedFileEntries, type FileEntry, type Manifest } from './schema.ts';

export interface ArtifactEdit {
  id: string;
  files: FileEntry[];
  /** replaces the labels when given */
  labels?: Record<string, string>;
  env?: string;
  description?: string;
  /** sets `optional: true` when true */
  optional?: boolean;
}

export interface UpsertResult {
  text: string;
  manifest: Manifest;
  created: boolean;
  /** the artifact's files before the edit ([] when created) */
  previous: FileEntry[];
  /** 'splice': only the artifact's lines changed; 'reserialise': the Document was printed again */
  method: 'splice' | 'reserialise';
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

function indentRest(block: string, column: number): string {
  const pad = ' '.repeat(column);
  return block
    .split('\n')
    .map((line, i) => (i === 0 || line === '' ? line : `${pad}${line}`))
    .join('\n');
}

/** YAML text for `value`, styled like `like` (flow on one line, or block indented at the node's column). */
function renderLike(value: unknown, like: Node | undefined, column: number, flowItems = false): string {
  const doc = new Document(value);
  const root = doc.contents as Node | null;
  const flow = like && (isMap(like) || isSeq(like)) ? Boolean((like as YAMLMap | YAMLSeq).flow) : false;
  if (flow && root && (isMap(root) || isSeq(root))) (root as YAMLMap | YAMLSeq).flow = true;
  if (flowItems && root && isSeq(root)) for (const item of root.items) if (isMap(item)) item.flow = true;
  const text = doc.toString({ lineWidth: 0, indentSeq: true });
  return flow || !root || isScalar(root) ? text.replace(/\n$/, '') : indentRest(text, column);
}

interface Splice {
  at: number;
  end: number;
  text: string;
}

function applySplices(text: string, splices: Splice[]): string {
  let out = text;
  for (const s of [...splices].sort((a, b) => b.at - a.at)) out = out.slice(0, s.at) + s.text + out.slice(s.end);
  return out;
}

/** The edits, as byte ranges of the original text. Undefined when the document's shape does not allow it. */
function spliceEdit(text: string, doc: Document.Parsed, edit: ArtifactEdit): { splices: Splice[]; created: boolean } | undefined {
  const artifacts = doc.get('artifacts', true) as Node | undefined;
  if (!artifacts || !isSeq(artifacts) || artifacts.flow || !artifacts.range || artifacts.items.length === 0) return undefined;
  const item = artifacts.items.find((it) => isMap(it) && it.get('id') === edit.id) as YAMLMap | undefined;
  const files = sortedFileEntries(edit.files);

  if (!item) {
    const first = artifacts.items[0] as Node;
    const last = artifacts.items[artifacts.items.length - 1] as Node;
    if (!first.range || !last.range || !isMap(first) || first.flow) return undefined;
    const dash = lineStart(text, first.range[0]);
    const column = first.range[0] - dash - 2; // the "- " before the item
    if (column < 0 || text.slice(first.range[0] - 2, first.range[0]) !== '- ') return undefined;
    const firstFiles = first.get('files', true) as Node | undefined;
    const fileItemsFlow = Boolean(firstFiles && isSeq(firstFiles) && isMap(firstFiles.items[0]) && (firstFiles.items[0] as YAMLMap).flow);
    const labelsLike = first.get('labels', true) as Node | undefined;
    const lines = [`id: ${renderLike(edit.id, undefined, 0)}`];
    if (edit.description !== undefined) lines.push(`description: ${renderLike(edit.description, undefined, 0)}`);
    if (edit.labels && Object.keys(edit.labels).length) lines.push(`labels: ${renderLike(edit.labels, labelsLike ?? new Document({ a: 1 }, { flow: true }).contents!, 0)}`);
    if (edit.optional) lines.push('optional: true');
    if (edit.env !== undefined) lines.push(`env: ${renderLike(edit.env, undefined, 0)}`);
    const filesBlock = renderLike(files, undefined, 0, fileItemsFlow)
      .replace(/\n+$/, '')
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n');
    lines.push(`files:\n${filesBlock}`);
    const body = indentRest(lines.join('\n'), column + 2);
    const end = artifacts.range[1];
    const before = text.slice(0, end);
    // blank lines between the existing items: keep the habit
    const prev = artifacts.items.length > 1 ? (artifacts.items[artifacts.items.length - 2] as Node).range : undefined;
    const separated = Boolean(prev) && /(^|\n)[ \t]*\n/.test(text.slice(prev![1], lineStart(text, last.range[0])));
    const lead = (before.endsWith('\n') ? '' : '\n') + (separated ? '\n' : '');
    return { splices: [{ at: end, end, text: `${lead}${' '.repeat(column)}- ${body}\n` }], created: true };
  }

  if (item.flow || !item.range) return undefined;
  const splices: Splice[] = [];
  const filesNode = item.get('files', true) as Node | undefined;
  if (!filesNode || !filesNode.range) return undefined;
  const fileItemsFlow = isSeq(filesNode) && isMap(filesNode.items[0]) && Boolean((filesNode.items[0] as YAMLMap).flow);
  const filesColumn = filesNode.range[0] - lineStart(text, filesNode.range[0]);
  const flowSeq = isSeq(filesNode) && filesNode.flow;
  splices.push({
    at: filesNode.range[0],
    end: flowSeq ? filesNode.range[1] : filesNode.range[1],
    text: renderLike(files, filesNode, filesColumn, fileItemsFlow),
  });
  // files' key: where a missing key is inserted (its own line, same indentation)
  const filesPair = item.items.find((p) => isScalar(p.key) && p.key.value === 'files');
  const keyStart = (filesPair?.key as Node | undefined)?.range?.[0];
  if (keyStart === undefined) return undefined;
  const keyColumn = keyStart - lineStart(text, keyStart);
  if (text.slice(lineStart(text, keyStart), keyStart).trim() !== '') return undefined; // "- files:" as the first key: keep it simple
  const setKey = (key: string, value: unknown): boolean => {
    const node = item.get(key, true) as Node | undefined;
    if (node) {
      if (!node.range) return false;
      const column = node.range[0] - lineStart(text, node.range[0]);
      const block = (isMap(node) || isSeq(node)) && !(node as YAMLMap).flow;
      // a block collection's range ends after its last line break, and so does its rendering
      splices.push({ at: node.range[0], end: node.range[1], text: renderLike(value, isScalar(node) ? undefined : node, column) });
    } else {
      const like = key === 'labels' ? (new Document({ a: 1 }, { flow: true }).contents as Node) : undefined;
      const at = lineStart(text, keyStart);
      splices.push({ at, end: at, text: `${' '.repeat(keyColumn)}${key}: ${renderLike(value, like, keyColumn + 2)}\n` });
    }
    return true;
  };
  if (edit.description !== undefined && !setKey('description', edit.description)) return undefined;
  if (edit.labels && !setKey('labels', edit.labels)) return undefined;
  if (edit.optional && !setKey('optional', true)) return undefined;
  if (edit.env !== undefined && !setKey('env', edit.env)) return undefined;
  return { splices, created: false };
}

/** The same edit on the Document itself, printed again (comments kept, formatting may change). */
function reserialiseEdit(doc: Document.Parsed, edit: ArtifactEdit): { text: string; created: boolean } {
  const artifacts = doc.get('artifacts', true) as YAMLSeq | undefined;
  if (!artifacts || !isSeq(artifacts)) throw new UsageError('The manifest has no `artifacts:` list to add to.', { code: 'EMANIFEST' });
  let item = artifacts.items.find((it) => isMap(it) && it.get('id') === edit.id) as YAMLMap | undefined;
  const created = !item;
  if (!item) {
    item = doc.createNode({ id: edit.id }) as YAMLMap;
    artifacts.add(item);
  }
  if (edit.description !== undefined) item.set('description', edit.description);
  if (edit.labels) item.set('labels', doc.createNode(edit.labels, { flow: true }));
  if (edit.optional) item.set('optional', true);
  if (edit.env !== undefined) item.set('env', edit.env);
  item.set('files', doc.createNode(sortedFileEntries(edit.files)));
  return { text: doc.toString({ lineWidth: 0 }), created };
}

function sameFiles(m: Manifest, edit: ArtifactEdit): boolean {
  const a = m.artifacts.find((x) => x.id === edit.id);
  if (!a) return false;
  const want = JSON.stringify(sortedFileEntries(edit.files));
  const labelsOk = !edit.labels || JSON.stringify(a.labels) === JSON.stringify(edit.labels);
  return JSON.stringify(sortedFileEntries(a.files)) === want && labelsOk && (edit.env === undefined || a.env === edit.env);
}

/**
 * Add the artifact to the manifest text, or replace its files (and the fields
 * given) when the id exists. The result is validated with parseManifest before
 * it is returned: an edit that would make the manifest invalid throws ManifestError.
 */
export function upsertArtifact(text: string, manifestPath: string, edit: ArtifactEdit): UpsertResult {
  const before = parseManifest(text, manifestPath); // refuses to edit a manifest that is already invalid
  const previous = before.artifacts.find((a) => a.id === edit.id)?.files ?? [];
  const doc = parseDocument(text, { keepSourceTokens: true });
  const spliced = spliceEdit(text, doc, edit);
  if (spliced) {
    const out = applySplices(text, spliced.splices);
    try {
      const manifest = parseManifest(out, manifestPath);
      if (sameFiles(manifest, edit)) return { text: out, manifest, created: spliced.created, previous, method: 'splice' };
    } catch {
      // fall through to the Document route, which reports real problems with lines of its own text
    }
  }
  const { text: out, created } = reserialiseEdit(parseDocument(text), edit);
  const manifest = parseManifest(out, manifestPath);
  return { text: out, manifest, created, previous, method: 'reserialise' };
}

export interface FileChanges {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: number;
}

export function diffFiles(previous: readonly FileEntry[], next: readonly FileEntry[]): FileChanges {
  const old = new Map(previous.map((f) => [f.path, f]));
  const now = new Map(next.map((f) => [f.path, f]));
  const out: FileChanges = { added: [], removed: [], changed: [], unchanged: 0 };
  for (const [p, f] of now) {
    const o = old.get(p);
    if (!o) out.added.push(p);
    else if (o.sha256 !== f.sha256 || o.size !== f.size) out.changed.push(p);
    else out.unchanged++;
  }
  for (const p of old.keys()) if (!now.has(p)) out.removed.push(p);
  return out;
}
