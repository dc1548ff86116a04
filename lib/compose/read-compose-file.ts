/**
 * The one reader of a Compose file as written, with the line of each node: locate.ts pins findings
 * to lines with it, services.ts reads services and `include:` from it. A file that cannot be read
 * (missing, not readable, not a regular file: never blocks on a FIFO) or parsed gives undefined:
 * Compose itself says why. A read is under the stall bound and the run's signal: a hung mount is
 * ESTALLED (exit 5), an abort ends it with its reason; neither is taken for an unreadable file.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { isUnreadableFile, readRegularFile, stallDeadline } from '../fs-safe.ts';

export interface ParsedYaml {
  doc: ReturnType<typeof parseDocument>;
  lines: LineCounter;
}

/** How a Compose file is read: the run's signal, and the stall bound (default STALL_DEFAULTS.idleMs). */
export interface ComposeReadOptions {
  signal?: AbortSignal;
  idleMs?: number;
}

const cache = new Map<string, ParsedYaml | null>();

/** The file parsed (read each time, parsed once per content). */
export async function readComposeYaml(file: string, opts: ComposeReadOptions = {}): Promise<ParsedYaml | undefined> {
  let text: string;
  try {
    text = await stallDeadline('Reading', file, opts).bound(readRegularFile(file));
  } catch (err) {
    if (!isUnreadableFile(err, opts.signal)) throw err;
    return undefined;
  }
  const key = `${file}\0${text}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit ?? undefined;
  const lines = new LineCounter();
  // `<<: *anchor` merge keys resolved as Compose v2 and docker-compose 1.29 do (a service's own key first, then the merged maps in order)
  const doc = parseDocument(text, { lineCounter: lines, keepSourceTokens: false, uniqueKeys: false, merge: true });
  const parsed = doc.errors.length > 0 ? null : { doc, lines };
  cache.set(key, parsed);
  return parsed ?? undefined;
}

export function lineOf(p: ParsedYaml, node: { range?: [number, number, number] | null } | null | undefined): number | undefined {
  const start = node?.range?.[0];
  return start === undefined ? undefined : p.lines.linePos(start).line;
}

export function getNode(p: ParsedYaml, keys: (string | number)[]): Node | undefined {
  const n = p.doc.getIn(keys, true);
  return n && typeof n === 'object' && 'range' in (n as object) ? (n as Node) : undefined;
}

export interface ComposeInclude {
  /** the paths as written (`include: [a]`, `- path: a`, `- path: [a, b]`), relative to the file's folder */
  paths: string[];
  line?: number;
}

/** The top-level `include:` entries of a parsed Compose file. */
export function includesOf(p: ParsedYaml): ComposeInclude[] {
  const inc = getNode(p, ['include']);
  if (!isSeq(inc)) return [];
  const out: ComposeInclude[] = [];
  for (const item of inc.items) {
    const line = lineOf(p, item as Node);
    if (isScalar(item) && typeof item.value === 'string') out.push({ paths: [item.value], line });
    else if (isMap(item)) {
      const v = item.get('path', true);
      if (isScalar(v) && typeof v.value === 'string') out.push({ paths: [v.value], line });
      else if (isSeq(v)) out.push({ paths: v.items.flatMap((x) => (isScalar(x) && typeof x.value === 'string' ? [x.value] : [])), line });
    }
  }
  return out;
}

/** The top-level `include:` entries of a Compose file; [] when it cannot be read. */
export async function readIncludes(file: string, opts: ComposeReadOptions = {}): Promise<ComposeInclude[]> {
  const p = await readComposeYaml(file, opts);
  return p ? includesOf(p) : [];
}
