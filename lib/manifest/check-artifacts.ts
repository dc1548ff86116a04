/**
 * The checks on artifacts that need more than one field: safe and distinct ids, safe and distinct
 * file paths, one folder per env name, and require rules that name existing ids.
 */
import { closest } from './did-you-mean.ts';
import { checkSafeRelativePath, findCollisions, foldPath } from './paths.ts';
import { show, type Reporter, type Seg } from './problem-reporter.ts';
import { asArray, asObject, stringAt } from './raw-data.ts';

function envNameFor(id: string): string {
  return `${id.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '')}_DIR`;
}

type RawArtifact = Record<string, unknown> | undefined;

/** Artifact ids, file paths and env names; returns the ids found (for the require rules). */
export function checkArtifacts(report: Reporter, root: Record<string, unknown>): { id: string; i: number }[] {
  const artifacts = asArray(root.artifacts).map(asObject);
  const ids = checkIds(report, artifacts);
  checkFilesAndEnv(report, artifacts);
  return ids;
}

/** Every id a safe relative path, not modelmount's own folder, and no two the same folder or nested. */
function checkIds(report: Reporter, artifacts: readonly RawArtifact[]): { id: string; i: number }[] {
  const ids: { id: string; i: number }[] = [];
  for (const [i, a] of artifacts.entries()) {
    const id = stringAt(a, 'id');
    if (id === undefined) continue;
    ids.push({ id, i });
    const reason = checkSafeRelativePath(id);
    if (reason) {
      report.at(
        ['artifacts', i, 'id'],
        `artifact id ${show(id)} is not a safe relative path: it ${reason}`,
        'Use folder names joined by "/", like student/v0_ja (letters, digits, ".", "-", "_"); the id becomes the folder <hostDir>/<id>.',
      );
    } else if (foldPath(id.split('/')[0] as string).startsWith('.modelmount')) {
      report.at(
        ['artifacts', i, 'id'],
        `artifact id ${show(id)} uses the name ".modelmount", which modelmount keeps for its own records in hostDir`,
        'Rename the artifact, e.g. without the leading ".modelmount".',
      );
    }
  }
  reportCollisions(report, ids.map((x) => ({ name: x.id, segs: ['artifacts', x.i, 'id'] })), {
    nested: (parent, child, otherLine) => [
      `artifact id "${parent}" is a parent folder of "${child}" (line ${otherLine}): their folders and mounts would nest`,
      `Rename one so neither is inside the other, e.g. "${parent}/base" and "${child}".`,
    ],
    same: (name, firstLine) => [`duplicate artifact id "${name}" (also at line ${firstLine})`, 'Give every artifact a different id, or merge the two entries.'],
    fold: (name, first, firstLine) => [
      `artifact id "${name}" and "${first}" (line ${firstLine}) are the same folder on case-insensitive file systems (macOS, Windows)`,
      'Rename one so they differ by more than letter case or Unicode normalisation.',
    ],
  });
  return ids;
}

/** Per artifact: safe and distinct file paths; across artifacts: one artifact per env name. */
function checkFilesAndEnv(report: Reporter, artifacts: readonly RawArtifact[]): void {
  const envSeen = new Map<string, number>();
  for (const [i, a] of artifacts.entries()) {
    const files = asArray(a?.files).map(asObject);
    const paths: { p: string; j: number }[] = [];
    for (const [j, f] of files.entries()) {
      const p = stringAt(f, 'path');
      if (p === undefined) continue;
      paths.push({ p, j });
      const reason = checkSafeRelativePath(p);
      if (reason) {
        report.at(
          ['artifacts', i, 'files', j, 'path'],
          `file path ${show(p)} is not a safe relative path: it ${reason}`,
          'Use a path inside the artifact folder, like model.safetensors or tokenizer/vocab.json.',
        );
      }
    }
    reportCollisions(report, paths.map((x) => ({ name: x.p, segs: ['artifacts', i, 'files', x.j, 'path'] })), {
      nested: (parent, child, otherLine) => [
        `"${parent}" is listed as a file but is also the folder of "${child}" (line ${otherLine})`,
        'A path cannot be both a file and a folder: rename or remove one of them.',
      ],
      same: (name, firstLine) => [`file "${name}" is listed twice in this artifact (also at line ${firstLine})`, 'Remove the duplicate entry.'],
      fold: (name, first, firstLine) => [
        `file "${name}" and "${first}" (line ${firstLine}) are the same file on case-insensitive file systems (macOS, Windows)`,
        'Rename one so they differ by more than letter case or Unicode normalisation.',
      ],
    });
    const env = stringAt(a, 'env');
    if (env !== undefined) {
      const prev = envSeen.get(env);
      if (prev === undefined) envSeen.set(env, i);
      else {
        const id = stringAt(a, 'id');
        report.at(
          ['artifacts', i, 'env'],
          `env ${show(env)} is already used by artifacts[${prev}] (line ${report.lineOf(['artifacts', prev, 'env'])}); the container would get only one of the two folders`,
          `Give each artifact its own variable${id ? `, e.g. env: ${envNameFor(id)}` : ''}.`,
        );
      }
    }
  }
}

/** Every id in a require rule names an artifact of this manifest. */
export function checkRequire(report: Reporter, root: Record<string, unknown>, ids: readonly { id: string }[]): void {
  const idList = [...new Set(ids.map((x) => x.id))];
  const idSet = new Set(idList);
  for (const [r, rule] of asArray(root.require).map(asObject).entries()) {
    for (const [k, v] of asArray(rule?.anyOf).entries()) {
      if (typeof v !== 'string' || idSet.has(v)) continue;
      const guess = closest(v, idList);
      report.at(
        ['require', r, 'anyOf', k],
        `unknown artifact id ${show(v)} in a require rule`,
        `${guess ? `Did you mean "${guess}"? ` : ''}Use ids of artifacts in this manifest: ${idList.join(', ') || '(none yet)'}.`,
      );
    }
  }
}

/** [message, fix] for each kind of collision (paths.ts findCollisions) */
interface CollisionWords {
  nested(parent: string, child: string, otherLine: number): [string, string];
  same(name: string, firstLine: number): [string, string];
  fold(name: string, first: string, firstLine: number): [string, string];
}

/** Names (in manifest order) that are the same folder, or one inside another: each reported once. */
function reportCollisions(report: Reporter, entries: readonly { name: string; segs: Seg[] }[], words: CollisionWords): void {
  for (const c of findCollisions(entries.map((e) => e.name))) {
    const [first, ...rest] = c.indexes.map((k) => entries[k] as { name: string; segs: Seg[] });
    if (!first) continue;
    const firstLine = report.lineOf(first.segs);
    if (c.kind === 'prefix') {
      const child = rest[0];
      if (!child) continue;
      // reported at the later of the two, naming the line of the other
      const [later, other] = (c.indexes[0] as number) > (c.indexes[1] as number) ? [first, child] : [child, first];
      report.at(later.segs, ...words.nested(first.name, child.name, report.lineOf(other.segs)));
      continue;
    }
    for (const x of rest) report.at(x.segs, ...(c.kind === 'same' ? words.same(x.name, firstLine) : words.fold(x.name, first.name, firstLine)));
  }
}
