/**
 * A Node fs error as a DiskError whose hint names the fix: no space, no permission (toDiskError),
 * else an EDISK (diskFailure). The hint names how to move the folder concerned (lib/disk-folder.ts).
 */
import { folderMoveWords, folderSetting, type DiskFolder } from './disk-folder.ts';
import { DiskError, nodeErrorCode } from './errors.ts';

/**
 * toDiskError, else an EDISK naming `action` (EIO and other codes the disk reports): never a raw
 * error. `where`: what is untouched and the folder written to (the store's by default).
 */
export function diskFailure(
  err: unknown,
  action: string,
  where: { untouched: string; folder: DiskFolder } = { untouched: 'nothing unverified entered the store', folder: 'cache' },
): DiskError {
  return (
    toDiskError(err, action, where.folder) ??
    new DiskError(`Failed ${action} (${nodeErrorCode(err)}).`, {
      cause: err,
      hint:
        nodeErrorCode(err) === 'EFBIG'
          ? `The file is larger than this filesystem or the file size limit (\`ulimit -f\`) allows; ${where.untouched}. Raise the limit (\`ulimit -f unlimited\`, if the hard limit allows) or ${folderMoveWords(`point ${folderSetting(where.folder)} at another filesystem`, 'another filesystem')}, then run again.`
          : `The disk reported an error (see \`dmesg\`); ${where.untouched}. Check the disk, then run again.`,
    })
  );
}

/**
 * Map a Node fs error to the right ModelmountError (disk full, permissions) or undefined. `folder`:
 * the folder `action` is in, whose setting the hint names (unknown: the manifest's keys only);
 * 'none': a folder no setting of modelmount moves (the Compose project, an output file).
 */
export function toDiskError(err: unknown, action: string, folder?: DiskFolder | 'none'): DiskError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const elsewhere = folder === 'none' ? undefined : folderSetting(folder);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DiskError(`No space left while ${action}.`, {
      code: 'ENOSPC',
      cause: err,
      hint: `Free some space${elsewhere ? ` (or ${folderMoveWords(`point ${elsewhere} at a bigger disk`, 'a bigger disk')})` : ''} and run again; the previous install is untouched.`,
    });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new DiskError(`Permission denied while ${action} (${code}).`, {
      code: 'EPERM',
      cause: err,
      hint: `Make the folder writable for this user${elsewhere ? `, or ${folderMoveWords(`choose another with ${elsewhere}`, 'elsewhere')}` : ''}.`,
    });
  }
  return undefined;
}
