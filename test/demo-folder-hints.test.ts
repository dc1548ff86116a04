/**
 * The demo works only in its own folders in the clone and has no --host-dir / --cache-dir (nor reads
 * MODELS_HOST_DIR / MODELS_CACHE_DIR or takes a manifest): a stall or disk hint printed during the demo
 * says how the demo's folders move (a clone elsewhere), never an option or manifest key.
 */
import { describe, expect, it } from 'vitest';
import { diskFailure, toDiskError } from '../lib/disk-failure.ts';
import { inDemoFolders, PROJECT_ROOT } from '../lib/demo/run-demo.ts';
import { makeDirs, stalled } from '../lib/fs-safe.ts';
import { checkFreeSpace } from '../lib/store/space.ts';
import { tempDir } from './helpers/cli.ts';

const errno = (code: string) => Object.assign(new Error(code), { code });
const hintOf = (err: unknown) => (err as { hint?: string }).hint ?? '';

describe("a hint in the demo names how the demo's folders move", () => {
  it('stalls, no space, no permission, a file too large, a folder that cannot be created: no option the demo lacks', async () => {
    const dir = await tempDir();
    const hints = await inDemoFolders(async () => [
      hintOf(stalled('Reading', `${dir}/x`, 30_000, 'host')),
      hintOf(stalled('Checking the files in', dir, 30_000, { folder: 'cache', setBy: 'manifest' })),
      hintOf(toDiskError(errno('ENOSPC'), 'writing x', 'cache')),
      hintOf(toDiskError(errno('EACCES'), 'writing x', 'host')),
      hintOf(diskFailure(errno('EFBIG'), 'writing x')),
      hintOf(await makeDirs('/proc/modelmount-test/x', 'cache').catch((e: unknown) => e)),
      hintOf(await checkFreeSpace([{ dir, folder: 'host', bytes: 2 ** 62, what: 'the host folder' }]).catch((e: unknown) => e)),
    ]);
    for (const hint of hints) {
      expect(hint).not.toMatch(/--host-dir|--cache-dir|MODELS_|manifest's|hostDir|cacheDir/);
      expect(hint).toContain(PROJECT_ROOT);
    }
    // after the demo, hints name the options again
    expect(hintOf(stalled('Reading', `${dir}/x`, 30_000, 'host'))).toContain('--host-dir');
  });
});
