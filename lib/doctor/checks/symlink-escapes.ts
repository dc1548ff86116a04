/**
 * symlink-escapes: links in a mounted folder that point outside it dangle in the container. Every
 * look is under the host folder's stall bound: a hung mount is ESTALLED (exit 5), not a hang.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { nodeErrorCode } from '../../errors.ts';
import { stallDeadline } from '../../fs-safe.ts';
import { commandFor } from '../../invocation.ts';
import { isSameOrInside } from '../../path-inside.ts';
import { shellQuote } from '../../shell.ts';
import type { IdleDeadline } from '../../stall.ts';
import type { DoctorContext, DoctorFinding } from '../check.ts';

/** A folder of the walk that could not be listed: its links are unchecked. */
interface UnlistedFolder {
  folder: string;
  /** the error code (EACCES, EIO…) */
  failed: string;
}

/**
 * The symlinks below `root`, and the folders that could not be listed (EACCES, EIO…: their links
 * are unknown). A folder removed or replaced by a non-folder since its parent's listing (ENOENT,
 * ENOTDIR) holds nothing to look at.
 */
async function walkSymlinks(root: string, deadline: IdleDeadline): Promise<{ links: string[]; unlisted: UnlistedFolder[] }> {
  const links: string[] = [];
  const unlisted: UnlistedFolder[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const listed = await deadline.bound(
      fs.readdir(dir, { withFileTypes: true }).then(
        (entries) => ({ entries }),
        (err: unknown) => ({ failed: nodeErrorCode(err) }),
      ),
    );
    if ('failed' in listed) {
      if (listed.failed !== 'ENOENT' && listed.failed !== 'ENOTDIR') unlisted.push({ folder: dir, failed: listed.failed });
      continue;
    }
    for (const e of listed.entries) {
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink()) links.push(p);
      else if (e.isDirectory()) stack.push(p);
    }
  }
  return { links: links.sort(), unlisted: unlisted.sort((a, b) => a.folder.localeCompare(b.folder)) };
}

/**
 * A link that leaves the mounted folder (`target`, `reason`), one whose target could not be read
 * (`failed`: the error code), or a folder that could not be listed.
 */
export type SymlinkFinding = { link: string; target: string; reason: string } | { link: string; failed: string } | UnlistedFolder;

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
 * those whose target could not be read (EACCES, EIO…: where they lead is unknown), and the folders
 * that could not be listed (their links are unchecked).
 * `deadline`: the host folder's (stallDeadline, as checkHostFiles makes it), which names it in a stall.
 */
export async function findEscapingSymlinks(root: string, deadline: IdleDeadline): Promise<SymlinkFinding[]> {
  const realRoot = await deadline.bound(fs.realpath(root).catch(() => undefined));
  if (realRoot === undefined) return [];
  const { links, unlisted } = await walkSymlinks(root, deadline);
  const out: SymlinkFinding[] = [...unlisted];
  for (const link of links) {
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

/** A link whose target, or a folder whose listing, could not be read (warn): where its links lead is unknown. */
function uncheckedFinding(artifactId: string, e: Extract<SymlinkFinding, { failed: string }>): DoctorFinding {
  const folder = 'folder' in e;
  const p = folder ? e.folder : e.link;
  const what = folder ? `${p} could not be listed (${e.failed}): whether a symlink in it` : `The target of ${p} could not be read (${e.failed}): whether it`;
  return {
    id: 'symlink-escapes',
    verdict: 'warn',
    title: `A ${folder ? 'folder' : 'symlink'} in ${artifactId} could not be read`,
    file: p,
    message: `${what} points outside the mounted folder, and so dangles in the container, is unknown.`,
    fix: `Check the ${folder ? 'folder' : 'link'} and the filesystem that holds it (\`ls -la ${shellQuote(p)}\`), then run doctor again.`,
  };
}

export async function checkSymlinks(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const findings: DoctorFinding[] = [];
  const deadline = stallDeadline('Checking the files in', ctx.manifest.hostDir, { signal: ctx.signal, folder: 'host' });
  for (const s of ctx.sources) {
    if (s.state === 'missing' || s.state === 'not-directory' || s.state === 'symlink') continue;
    const escaping = await findEscapingSymlinks(s.source, deadline);
    for (const e of escaping) {
      if ('failed' in e) {
        findings.push(uncheckedFinding(s.artifactId, e));
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
