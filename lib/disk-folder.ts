/**
 * Which of modelmount's folders a path is in — the host folder or the store (cache) — for a disk
 * error's hint that names how to move it. Not every command has both options (doctor, compose,
 * verify, smoke, rollback, apply have --host-dir and no --cache-dir): a hint names the option of
 * the folder concerned, which every command that writes or looks there has, and else only the
 * manifest's keys.
 */
export type DiskFolder = 'host' | 'cache';

const SETTING: Record<DiskFolder, { option: string; key: string }> = {
  host: { option: '--host-dir', key: 'hostDir' },
  cache: { option: '--cache-dir', key: 'cacheDir' },
};

/** The command-line option that moves `folder`: "--host-dir". */
export function moveOption(folder: DiskFolder): string {
  return SETTING[folder].option;
}

/**
 * What moves `folders`, for a hint: "--host-dir (or the manifest's hostDir)", for both
 * "--cache-dir / --host-dir (or the manifest's cacheDir / hostDir)"; none known: "the manifest's
 * hostDir / cacheDir" (no option, which the printing command may lack).
 */
export function folderSetting(folders: DiskFolder | readonly DiskFolder[] | undefined): string {
  const known = [...new Set(folders === undefined ? [] : typeof folders === 'string' ? [folders] : folders)];
  if (known.length === 0) return `the manifest's ${SETTING.host.key} / ${SETTING.cache.key}`;
  return `${known.map((f) => SETTING[f].option).join(' / ')} (or the manifest's ${known.map((f) => SETTING[f].key).join(' / ')})`;
}
