/**
 * Find the file and line a finding is about: a `.dockerignore` pattern, a
 * volume / environment entry of a service in a Compose file, an item of the
 * manifest. Best effort: undefined when it cannot be pinned down.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { readRegularFile } from '../fs-safe.ts';
import { cleanContainerPath, parseShortVolume } from '../compose/parse-config.ts';

export interface Location {
  file: string;
  line: number;
}

interface ParsedYaml {
  doc: ReturnType<typeof parseDocument>;
  lines: LineCounter;
}

const cache = new Map<string, ParsedYaml | null>();

async function loadYaml(file: string): Promise<ParsedYaml | undefined> {
  let text: string;
  try {
    text = await readRegularFile(file); // never blocks on a FIFO
  } catch {
    return undefined;
  }
  const key = `${file}\0${text}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit ?? undefined;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, keepSourceTokens: false, uniqueKeys: false });
  const parsed = doc.errors.length > 0 ? null : { doc, lines };
  cache.set(key, parsed);
  return parsed ?? undefined;
}

function lineOf(p: ParsedYaml, node: { range?: [number, number, number] | null } | null | undefined): number | undefined {
  const start = node?.range?.[0];
  return start === undefined ? undefined : p.lines.linePos(start).line;
}

function getNode(p: ParsedYaml, keys: (string | number)[]): Node | undefined {
  const n = p.doc.getIn(keys, true);
  return n && typeof n === 'object' && 'range' in (n as object) ? (n as Node) : undefined;
}

/** Line of the key `keys[last]` (e.g. the `ml-worker:` line), or of the node itself for sequence items. */
export async function locateKey(file: string, keys: (string | number)[]): Promise<Location | undefined> {
  const p = await loadYaml(file);
  if (!p) return undefined;
  const parentKeys = keys.slice(0, -1);
  const last = keys[keys.length - 1];
  const parent = parentKeys.length === 0 ? p.doc.contents : getNode(p, parentKeys);
  if (isMap(parent)) {
    for (const pair of parent.items) {
      if (isPair(pair) && isScalar(pair.key) && String(pair.key.value) === String(last)) {
        const line = lineOf(p, pair.key);
        return line === undefined ? undefined : { file, line };
      }
    }
    return undefined;
  }
  if (isSeq(parent) && typeof last === 'number') {
    const line = lineOf(p, parent.items[last] as Node | undefined);
    return line === undefined ? undefined : { file, line };
  }
  return undefined;
}

/** Where `services.<service>.volumes` has an entry for `target` (short or long syntax). Later files win. */
export async function locateVolume(files: readonly string[], service: string, target: string): Promise<Location | undefined> {
  const want = cleanContainerPath(target);
  for (const file of [...files].reverse()) {
    const p = await loadYaml(file);
    if (!p) continue;
    const seq = getNode(p, ['services', service, 'volumes']);
    if (!isSeq(seq)) continue;
    for (const item of seq.items) {
      let t: string | undefined;
      if (isScalar(item) && typeof item.value === 'string') t = parseShortVolume(item.value).target;
      else if (isMap(item)) {
        const v = item.get('target');
        if (typeof v === 'string') t = v;
      }
      if (t !== undefined && cleanContainerPath(t) === want) {
        const line = lineOf(p, item as Node);
        if (line !== undefined) return { file, line };
      }
    }
  }
  return undefined;
}

/** Where `services.<service>.environment` sets `name` (map or `NAME=value` list). Later files win. */
export async function locateEnv(files: readonly string[], service: string, name: string): Promise<Location | undefined> {
  for (const file of [...files].reverse()) {
    const p = await loadYaml(file);
    if (!p) continue;
    const env = getNode(p, ['services', service, 'environment']);
    if (isMap(env)) {
      for (const pair of env.items) {
        if (isPair(pair) && isScalar(pair.key) && String(pair.key.value) === name) {
          const line = lineOf(p, pair.key);
          if (line !== undefined) return { file, line };
        }
      }
    } else if (isSeq(env)) {
      for (const item of env.items) {
        if (isScalar(item) && typeof item.value === 'string' && (item.value === name || item.value.startsWith(`${name}=`))) {
          const line = lineOf(p, item);
          if (line !== undefined) return { file, line };
        }
      }
    }
  }
  return undefined;
}

/** Where a service is defined (first file that has it). */
export async function locateService(files: readonly string[], service: string): Promise<Location | undefined> {
  for (const file of files) {
    const loc = await locateKey(file, ['services', service]);
    if (loc) return loc;
  }
  return undefined;
}

/** Raw top-level `include:` entries of a Compose file (for override-not-included). */
export async function readIncludes(file: string): Promise<{ paths: string[]; line?: number }[]> {
  const p = await loadYaml(file);
  if (!p) return [];
  const inc = getNode(p, ['include']);
  if (!isSeq(inc)) return [];
  const out: { paths: string[]; line?: number }[] = [];
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
