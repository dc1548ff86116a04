/** At exit (also by a signal), remove the locks this process still holds: synchronous, never blocking. */
import fsCb, { closeSync, fstatSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { onExit } from 'signal-exit';
import { HOLDER_FILE, parseHolder, type LockHolder } from './holder.ts';

/** lock folder → the token of our holder record in it */
const heldLocks = new Map<string, string>();
let exitHookInstalled = false;

function removeHeldLocksAtExit(): void {
  for (const [lockDir, token] of heldLocks) {
    try {
      // never blocks at exit: a holder.json that is not a regular file is not ours
      const fd = openSync(path.join(lockDir, HOLDER_FILE), fsCb.constants.O_RDONLY | fsCb.constants.O_NONBLOCK | fsCb.constants.O_NOFOLLOW);
      let h: LockHolder | undefined;
      try {
        h = fstatSync(fd).isFile() ? parseHolder(readFileSync(fd, 'utf8')) : undefined;
      } finally {
        closeSync(fd);
      }
      if (h?.token === token) rmSync(lockDir, { recursive: true, force: true });
    } catch {
      // gone already
    }
  }
}

/** Remove `lockDir` at exit if it is still ours then. */
export function releaseAtExit(lockDir: string, token: string): void {
  heldLocks.set(lockDir, token);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    onExit(removeHeldLocksAtExit);
  }
}

/** Released normally: nothing left to do at exit. */
export function forgetAtExit(lockDir: string): void {
  heldLocks.delete(lockDir);
}
