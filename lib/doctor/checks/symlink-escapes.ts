/**
 * symlink-escapes: links in a mounted folder that point outside it dangle in the container. Every
 * look is under the host folder's stall bound: a hung mount is ESTALLED (exit 5), not a hang.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { nodeErrorCode } from '../../errors.ts';
import { commandFor } from '../../invocation.ts';
import { isSameOrInside } from '../../path-inside.ts';
import { shellQuote } from '../../shell.ts';
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

/** A link that leaves the mounted folder (`target`, `reason`), or one whose target could not be read (`failed`: the error code). */
export type SymlinkFinding = { link: string; target: string; reason: string } | { link: string; failed: string };

/**
 * The target of `link`; undefined when it was removed or replaced by a non-link since the listing
 * (ENOENT, EINVAL): nothing to look at. Any other failure is said (its code), not taken for "fine".
 */
async function readTarget(link: string): Promise<{ target: string } | { failed: string } | undefined> {
  try {
    return { target: await fs.readlink(link) };
  } catch (err) {
    const code = nodeErrorCode(err);
    return code === 'ENOENT' || code === 'EINVAL' ? undefined : { failed: code };
  }
}

/**
 * Symlinks in `root` whose target is absolute or resolves outside it (they dangle in the container),
 * and those whose target could not be read (EACCES, EIO…: where they lead is unknown).
 * `deadline`: the host folder's (hostFolderDeadline), which names it in a stall.
 */
export async function findEscapingSymlinks(root: string, deadline: IdleDeadline): Promise<SymlinkFinding[]> {
  const out: SymlinkFinding[] = [];
  const realRoot = await deadline.bound(fs.realpath(root).catch(() => undefined));
  if (realRoot === undefined) return out;
  for (const link of await walkSymlinks(root, deadline)) {
    const read = await deadline.bound(readTarget(link));
    if (read === undefined) continue;
    if ('failed' in read) {
      out.push({ link, failed: read.failed });
      continue;
    }
    const { target } = read;
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
      if ('failed' in e) {
        findings.push({
          id: 'symlink-escapes',
          verdict: 'warn',
          title: `A symlink in ${s.artifactId} could not be read`,
          file: e.link,
          message: `The target of ${e.link} could not be read (${e.failed}): whether it points outside the mounted folder, and so dangles in the container, is unknown.`,
          fix: `Check the link and the filesystem that holds it (\`ls -la ${shellQuote(e.link)}\`), then run doctor again.`,
        });
        continue;
      }
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
