/**
 * One host folder's part of the gc plan: our unwanted files and artifact folders go; what no
 * install record lists is reported as not ours, never touched.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { metaDir } from '../../layout.ts';
import { checkSafeRelativePath } from '../../manifest/paths.ts';
import { readDir } from './read-dir.ts';
import type { GcHost, GcItem, GcPlan } from './types.ts';

export interface HostSink {
  add: (item: Omit<GcItem, 'bytes'>) => Promise<void>;
  kept: GcPlan['kept'];
  skipped: GcPlan['skipped'];
  notOurs: GcPlan['notOurs'];
}

function isUnder(rel: string, parent: string): boolean {
  return parent === '' || rel === parent || rel.startsWith(`${parent}/`);
}

const NOT_OURS = 'not ours, left alone (no install record says modelmount put it there)';

async function lstatOrUndefined(p: string) {
  return fs.lstat(p).catch(() => undefined);
}

/** Every entry below `dir` (relative POSIX paths), without following a symlink: regular files, and anything else that is not a folder. */
async function listTree(dir: string, rel = ''): Promise<{ files: string[]; others: string[] }> {
  const out = { files: [] as string[], others: [] as string[] };
  for (const e of await readDir(path.join(dir, ...rel.split('/').filter(Boolean)))) {
    const child = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      const sub = await listTree(dir, child);
      out.files.push(...sub.files);
      out.others.push(...sub.others);
    } else (e.isFile() ? out.files : out.others).push(child);
  }
  return out;
}

/** The first folder on the way from `dir` to `dir/rel` that is not a real folder: undefined when all are, 'missing' when one is not there. */
async function brokenChain(dir: string, rel: string): Promise<string | 'missing' | undefined> {
  const segs = rel.split('/');
  for (let n = 1; n <= segs.length; n++) {
    const p = path.join(dir, ...segs.slice(0, n));
    const st = await lstatOrUndefined(p);
    if (!st) return 'missing';
    if (!st.isDirectory()) return p;
  }
  return undefined;
}

/** One host folder: our unwanted files and artifact folders go; what no record lists is reported, never touched. */
export async function planHost(host: GcHost, sink: HostSink): Promise<void> {
  const { dir, protect, wanted, owned } = host;
  const keepFolders = [...new Set([...protect.keys(), ...wanted.keys()])];
  for (const id of keepFolders) {
    if (!(await lstatOrUndefined(path.join(dir, ...id.split('/').filter(Boolean))))) continue;
    sink.kept.artifacts.push({ hostDir: dir, id, why: [...(wanted.get(id)?.why ?? []), ...(protect.get(id) ?? [])] });
  }
  const mounted = [...protect.keys()];
  for (const [id, files] of owned) {
    if (checkSafeRelativePath(id) || mounted.some((k) => isUnder(id, k))) continue; // unsafe (a hand-edited record), or mounted whole
    const want = wanted.get(id)?.files;
    const removable = [...files].filter((f) => !checkSafeRelativePath(f) && !want?.has(f) && !mounted.some((k) => isUnder(`${id}/${f}`, k)));
    if (!removable.length) continue;
    const artDir = path.join(dir, ...id.split('/'));
    const broken = await brokenChain(dir, id);
    if (broken === 'missing') continue; // already gone
    if (broken) {
      sink.skipped.push({ path: broken, reason: 'not a real folder (a symlink or a file) on the way to an artifact: nothing below it is touched' });
      continue;
    }
    const others = keepFolders.filter((k) => k !== id && isUnder(k, id)); // another artifact nested inside this one
    if (!want && !others.length) {
      const content = await listTree(artDir);
      const mine = new Set(removable);
      const foreign = [...content.files.filter((f) => !mine.has(f)), ...content.others];
      if (!foreign.length) {
        await sink.add({ kind: 'artifact', path: artDir, id, root: dir });
        continue;
      }
      for (const f of foreign) sink.notOurs.push({ path: path.join(artDir, ...f.split('/')), reason: NOT_OURS });
    }
    for (const f of removable) {
      const p = path.join(artDir, ...f.split('/'));
      if (others.some((k) => isUnder(`${id}/${f}`, k)) || (await brokenChain(dir, path.posix.dirname(`${id}/${f}`)))) continue;
      const st = await lstatOrUndefined(p);
      if (st?.isFile()) await sink.add({ kind: 'file', path: p, id, file: f, root: dir });
      else if (st) sink.notOurs.push({ path: p, reason: `${NOT_OURS}: modelmount installed a file here, this is not one` });
    }
  }
  // everything else in the host folder: reported, never touched
  const known = [...new Set([...owned.keys(), ...keepFolders])];
  const visit = async (rel: string): Promise<void> => {
    for (const e of await readDir(path.join(dir, ...rel.split('/').filter(Boolean)))) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (rel === '' && (e.name === path.basename(metaDir(dir)) || e.name.startsWith('.modelmount.lock'))) continue;
      if (known.some((k) => isUnder(child, k))) continue; // an artifact folder (or inside one): handled above
      if (e.isDirectory() && known.some((k) => isUnder(k, child))) await visit(child); // a parent folder of artifacts
      else sink.notOurs.push({ path: path.join(dir, ...child.split('/')), reason: e.isSymbolicLink() ? `${NOT_OURS}: a symlink (modelmount never creates them)` : NOT_OURS });
    }
  };
  await visit('');
}
