/**
 * Where the per-user store is by default, on its own: --cache-dir's help names it at start-up,
 * which must not load what lib/layout.ts needs (node:crypto; test/startup.test.ts).
 */
import path from 'node:path';

/** The default store under the home folder `home`: <home>/.cache/modelmount, on macOS <home>/Library/Caches/modelmount. */
export function storeUnder(home: string, platform: NodeJS.Platform): string {
  return platform === 'darwin' ? path.join(home, 'Library', 'Caches', 'modelmount') : path.join(home, '.cache', 'modelmount');
}

/** The default store as a message names it, `~` for the home folder: ~/.cache/modelmount (macOS: ~/Library/Caches/modelmount). */
export function shownDefaultCacheDir(platform: NodeJS.Platform = process.platform): string {
  return storeUnder('~', platform);
}
