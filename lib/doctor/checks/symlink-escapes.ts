/**
 * symlink-escapes: links in a mounted folder that point outside it dangle in the container. Every
 * look is under the host folder's stall bound: a hung mount is ESTALLED (exit 5), not a hang.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { commandFor } from '../../invocation.ts';
import { isSameOrInside } from '../../path-inside.ts';
import type { IdleDeadline } from '../../stall.ts';
import { hostFolderDeadline } from '../../verify/verify-files.ts';
import type { DoctorContext, DoctorFinding } from '../check.ts';

async function walkSymlinks(root: string, deadline: IdleDeadline): Promise<string[]> {
  const links: string[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const entries = await deadline.bound(fs.readdir(dir, { withFileTypes: true }).catch(() => undefined));
    if (!entries) continue;
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink()) links.push(p);
      else if (e.isDirectory()) stack.push(p);
    }
  }
  return links.sort();
}

/**
 * Symlinks in `root` whose target is absolute or resolves outside it (they dangle in the container).
 * `deadline`: the host folder's (hostFolderDeadline), which names it in a stall.
 */
export async function findEscapingSymlinks(root: string, deadline: IdleDeadline): Promise<{ link: string; target: string; reason: string }[]> {
  const out: { link: string; target: string; reason: string }[] = [];
  const realRoot = await deadline.bound(fs.realpath(root).catch(() => undefined));
  if (realRoot === undefined) return out;
  for (const link of await walkSymlinks(root, deadline)) {
    // undefined: removed or replaced since the listing (ENOENT, EINVAL): nothing to look at
    const target = await deadline.bound(fs.readlink(link).catch(() => undefined));
    if (target === undefined) continue;
    if (path.isAbsolute(target)) {
      out.push({ link, target, reason: 'absolute target: inside the container it resolves against the container\'s own file system' });
      continue;
    }
    const resolved = path.resolve(path.dirname(link), target);
    if (!isSameOrInside(resolved, root)) {
      out.push({ link, target, reason: `resolves to ${resolved}, outside the mounted folder` });
      continue;
    }
    // undefined: dangling already on the host, but inside: verification reports missing files
    const real = await deadline.bound(fs.realpath(resolved).catch(() => undefined));
    if (real !== undefined && !isSameOrInside(real, realRoot)) out.push({ link, target, reason: `resolves (through further links) to ${real}, outside the mounted folder` });
  }
  return out;
}

export async function checkSymlinks(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const findings: DoctorFinding[] = [];
  const deadline = hostFolderDeadline(ctx.manifest.hostDir, { signal: ctx.signal });
  for (const s of ctx.sources) {
    if (s.state === 'missing' || s.state === 'not-directory' || s.state === 'symlink') continue;
    const escaping = await findEscapingSymlinks(s.source, deadline);
    for (const e of escaping) {
      findings.push({
        id: 'symlink-escapes',
        verdict: 'error',
        title: `A symlink in ${s.artifactId} points outside the mounted folder`,
        file: e.link,
        message: `${e.link} -> ${e.target}: ${e.reason}. Only ${s.source} is mounted, so this link dangles in the container.`,
        fix: `Replace the link with the file itself (modelmount installs hardlinks or copies, never symlinks): remove it and run \`${commandFor('update')}\`.`,
      });
    }
  }
  if (findings.length === 0) {
    findings.push({ id: 'symlink-escapes', verdict: 'ok', title: 'No symlink leaves a mounted folder', message: 'No artifact folder holds a symlink that points outside it.' });
  }
  return findings;
}
