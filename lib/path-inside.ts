/**
 * Whether a path lies in a folder, by its text (no file system access): the one
 * definition every module uses. `..foo` is a name like any other (inside); only a
 * `..` segment at the start, or another root or drive, is outside.
 */
import path from 'node:path';

/** `p` relative to `root`: '' for `root` itself, undefined when `p` is outside it. */
export function relativeInside(root: string, p: string): string | undefined {
  const rel = path.relative(root, p);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return undefined;
  return rel;
}

/** `child` is `parent` or below it. */
export function isSameOrInside(child: string, parent: string): boolean {
  return relativeInside(parent, child) !== undefined;
}

/** `a` and `b` name the same path once resolved, trailing separators ignored (no file system access). */
export function samePath(a: string, b: string): boolean {
  return path.resolve(a).replace(/[\\/]+$/, '') === path.resolve(b).replace(/[\\/]+$/, '');
}
