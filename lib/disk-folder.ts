/**
 * Which of modelmount's folders a path is in — the host folder or the store (cache) — and what set
 * it, for a disk error's hint that names how to move it. Not every command has both options (doctor,
 * compose, verify, smoke, rollback, apply have --host-dir and no --cache-dir): a hint names the
 * option of the folder concerned, which every command that writes or looks there has, and else only
 * the manifest's keys. The folder check every command runs first names what set the folder. A run
 * whose folders nothing of the user's moves (the demo) names how they move instead (setFixedFolders).
 */
export type DiskFolder = 'host' | 'cache';

/** What set a folder: its command-line option, its environment variable, the manifest, or no one (the default store). */
export type FolderSetBy = 'option' | 'env' | 'manifest' | 'default';

/** A folder and what set it (lib/run-context.ts resolveFolders). */
export interface FolderOrigin {
  folder: DiskFolder;
  setBy: FolderSetBy;
}

const SETTING: Record<DiskFolder, { option: string; env: string; key: string }> = {
  host: { option: '--host-dir', env: 'MODELS_HOST_DIR', key: 'hostDir' },
  cache: { option: '--cache-dir', env: 'MODELS_CACHE_DIR', key: 'cacheDir' },
};

/** The environment variable of `folder`'s option: "MODELS_HOST_DIR". */
export function folderEnv(folder: DiskFolder): string {
  return SETTING[folder].env;
}

/** How a folder is named in a message: "--host-dir", "MODELS_HOST_DIR", "hostDir" or "the default store". */
export function folderLabel({ folder, setBy }: FolderOrigin): string {
  if (setBy === 'option') return SETTING[folder].option;
  if (setBy === 'env') return SETTING[folder].env;
  return setBy === 'default' && folder === 'cache' ? 'the default store' : SETTING[folder].key;
}

/**
 * What moves a folder, for a hint. Its origin known (the folder check every command runs first):
 * what set it ("--host-dir", "MODELS_HOST_DIR", else "the manifest's hostDir"), never an option that
 * was not given. Else the folders concerned, by option and manifest key: "--host-dir (or the
 * manifest's hostDir)", for both "--cache-dir / --host-dir (or the manifest's cacheDir / hostDir)";
 * none known: "the manifest's hostDir / cacheDir" (no option, which the printing command may lack).
 */
export function folderSetting(at: DiskFolder | readonly DiskFolder[] | FolderOrigin | undefined): string {
  if (at !== undefined && typeof at !== 'string' && 'setBy' in at) {
    return at.setBy === 'option' || at.setBy === 'env' ? folderLabel(at) : `the manifest's ${SETTING[at.folder].key}`;
  }
  const known = [...new Set(at === undefined ? [] : typeof at === 'string' ? [at] : at)];
  if (known.length === 0) return `the manifest's ${SETTING.host.key} / ${SETTING.cache.key}`;
  return `${known.map((f) => SETTING[f].option).join(' / ')} (or the manifest's ${known.map((f) => SETTING[f].key).join(' / ')})`;
}

/** Where a hint tells the user to move a folder. */
export type FolderDestination = 'a bigger disk' | 'another filesystem' | 'elsewhere';

let fixedFolders: string | undefined;

/**
 * For a run whose folders no option, environment variable or manifest of the user's moves (the
 * demo works only in its own folders in the clone): `how` they move instead ("running the demo from
 * a clone there (…)"), which every hint then says in place of an option the command lacks. Set for
 * the run, undefined after it.
 */
export function setFixedFolders(how: string | undefined): void {
  fixedFolders = how;
}

/**
 * A hint's `words` that move a folder to `to` ("point --cache-dir (or the manifest's cacheDir) at a
 * bigger disk", from folderSetting); in a run with fixed folders, how those move:
 * "move to a bigger disk by <how>".
 */
export function folderMoveWords(words: string, to: FolderDestination): string {
  if (!fixedFolders) return words;
  const move = `move to ${to === 'elsewhere' ? 'another folder' : to} by ${fixedFolders}`;
  return /^[A-Z]/.test(words) ? `M${move.slice(1)}` : move; // the words began a sentence
}
