/**
 * Find the file and line a finding is about: a `.dockerignore` pattern, a
 * volume / environment entry of a service in a Compose file, an item of the
 * manifest. Best effort: undefined when it cannot be pinned down (a file that hangs ends the run:
 * read-compose-file.ts; `opts.signal` is the run's).
 */
import { isMap, isPair, isScalar, isSeq, type Node } from 'yaml';
import { getNode, lineOf, readComposeYaml, type ComposeReadOptions } from '../compose/read-compose-file.ts';
import { cleanContainerPath, parseShortVolume } from '../compose/parse-config.ts';

export interface Location {
  file: string;
  line: number;
}

/** Line of the key `keys[last]` (e.g. the `ml-worker:` line), or of the node itself for sequence items. */
export async function locateKey(file: string, keys: (string | number)[], opts: ComposeReadOptions = {}): Promise<Location | undefined> {
  const p = await readComposeYaml(file, opts);
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
export async function locateVolume(files: readonly string[], service: string, target: string, opts: ComposeReadOptions = {}): Promise<Location | undefined> {
  const want = cleanContainerPath(target);
  for (const file of [...files].reverse()) {
    const p = await readComposeYaml(file, opts);
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
export async function locateEnv(files: readonly string[], service: string, name: string, opts: ComposeReadOptions = {}): Promise<Location | undefined> {
  for (const file of [...files].reverse()) {
    const p = await readComposeYaml(file, opts);
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
export async function locateService(files: readonly string[], service: string, opts: ComposeReadOptions = {}): Promise<Location | undefined> {
  for (const file of files) {
    const loc = await locateKey(file, ['services', service], opts);
    if (loc) return loc;
  }
  return undefined;
}
