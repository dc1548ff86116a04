/** Small tmpfs filesystems for real disk conditions (full, read-only): root only, unmounted after each test. */
import { execFileSync } from 'node:child_process';
import { afterEach } from 'vitest';
import { tempDir } from './cli.ts';

function mountWorks(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether tmpfs() can mount here (root with mount(8)); tests that need it skip otherwise. */
export const canMount = mountWorks();

const mounts: string[] = [];
afterEach(() => {
  for (const m of mounts.splice(0)) {
    try {
      execFileSync('umount', [m], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    }
  }
});

/** A new tmpfs of `sizeMiB` mounted on a new temp folder, unmounted after the test. */
export async function tmpfs(sizeMiB: number): Promise<string> {
  const dir = await tempDir('modelmount-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/** `dir` (a tmpfs() mount) made read-only: every write there fails with EROFS. */
export function remountReadOnly(dir: string): void {
  execFileSync('mount', ['-o', 'remount,ro', dir]);
}
