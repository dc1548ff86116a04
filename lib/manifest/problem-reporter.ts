/**
 * Problems in a manifest, each at file:line:column of the node it is about (found through the
 * yaml Document's node ranges), collected and thrown together as one ManifestError.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import { ManifestError, type ManifestProblem } from '../errors.ts';

/** one step of a path into the manifest data: a key or a list index */
export type Seg = string | number;

export class Reporter {
  readonly problems: ManifestProblem[] = [];
  private readonly seen = new Set<string>();

  /** Without `doc` and `lines` (the fast path), problems are only counted: positions are 0. */
  constructor(
    private readonly file: string,
    private readonly text: string,
    private readonly doc?: Document.Parsed,
    private readonly lines?: LineCounter,
  ) {}

  atOffset(offset: number, where: string, message: string, fix: string): void {
    const pos = this.lines?.linePos(Math.max(0, offset)) ?? { line: 0, col: 0 };
    this.push({ file: this.file, line: pos.line, column: pos.col, where, message, fix });
  }

  /** Report at the node for `segs`; `onKey` points at the key (for unknown/duplicate keys). */
  at(segs: readonly Seg[], message: string, fix: string, onKey = false): void {
    this.atOffset(this.offsetOf(segs, onKey), formatWhere(segs), message, fix);
  }

  /** 1-based line of the node at `segs` (for "also at line N" messages). */
  lineOf(segs: readonly Seg[]): number {
    return this.lines?.linePos(this.offsetOf(segs, false)).line ?? 0;
  }

  /** Source text of the scalar at `segs`, when it exists. */
  sourceOf(segs: readonly Seg[]): string | undefined {
    const n = this.nodeOf(segs);
    if (isScalar(n) && n.range) return this.text.slice(n.range[0], n.range[1]);
    return undefined;
  }

  throw(): never {
    const sorted = [...this.problems].sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ManifestError(sorted);
  }

  private push(p: ManifestProblem): void {
    const key = `${p.line}:${p.column}:${p.where}:${p.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.problems.push(p);
  }

  private nodeOf(segs: readonly Seg[]): unknown {
    if (!this.doc) return undefined;
    let node: unknown = this.doc.contents;
    for (const seg of segs) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return undefined;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else {
        return undefined;
      }
    }
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  private offsetOf(segs: readonly Seg[], onKey: boolean): number {
    if (!this.doc) return 0;
    let node: unknown = this.doc.contents;
    let best = rangeStart(node) ?? 0;
    for (const [i, seg] of segs.entries()) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return best;
        const keyStart = rangeStart(pair.key) ?? best;
        const last = i === segs.length - 1;
        if (last && onKey) return keyStart;
        node = pair.value;
        // an empty value (`sha256:`) has its range after the colon: point at the key instead
        const vStart = isScalar(node) && node.value === null ? undefined : rangeStart(node);
        best = vStart ?? keyStart;
        if (vStart === undefined) return best;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined || item === null) return best;
        node = item;
        best = rangeStart(node) ?? best;
      } else {
        return best;
      }
    }
    return best;
  }
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as { range?: [number, number, number] | null } | null | undefined)?.range;
  return r ? r[0] : undefined;
}

/** `artifacts[0].files[2].sha256`; keys that are not identifiers are quoted: `labels["my key"]`. */
export function formatWhere(segs: readonly Seg[]): string {
  if (segs.length === 0) return '(top level)';
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** A value as a message shows it: quoted text (shortened), a number, "a list", "nothing" … */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return v.length > 70 ? `${JSON.stringify(v.slice(0, 67))}…` : JSON.stringify(v);
  return String(v);
}
