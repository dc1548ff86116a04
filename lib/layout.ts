/**
 * Where things live on disk. One place, so the store, the installer, doctor,
 * status and gc agree.
 *
 *   <cacheDir>/sha256/ab/abcdef…            verified blobs, read-only, content-addressed
 *   <cacheDir>/tmp/<sha256>.<unique>.partial in-flight downloads (resumable)
 *   <cacheDir>/state.json                    verified-state cache for blobs
 *   <hostDir>/<artifact id>/<file path>      what containers mount (one folder per artifact)
 *   <hostDir>/.modelmount/installed.json     what the last update installed, from where
 *   <hostDir>/.modelmount/state.json         verified-state cache for host files
 *   <dir>/.modelmount.lock/holder.json       run lock of the store and of the host folder (lib/lock.ts)
 */
import os from 'node:os';
import path from 'node:path';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'modelmount');
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'modelmount');
  return path.join(os.homedir(), '.cache', 'modelmount');
}

export function blobPath(cacheDir: string, sha256: string): string {
  return path.join(cacheDir, 'sha256', sha256.slice(0, 2), sha256);
}

export function storeTmpDir(cacheDir: string): string {
  return path.join(cacheDir, 'tmp');
}

export function storeStatePath(cacheDir: string): string {
  return path.join(cacheDir, 'state.json');
}

export function artifactDir(hostDir: string, artifactId: string): string {
  return path.join(hostDir, ...artifactId.split('/'));
}

export function hostFilePath(hostDir: string, artifactId: string, filePath: string): string {
  return path.join(artifactDir(hostDir, artifactId), ...filePath.split('/'));
}

export function metaDir(hostDir: string): string {
  return path.join(hostDir, '.modelmount');
}

export function installRecordPath(hostDir: string): string {
  return path.join(metaDir(hostDir), 'installed.json');
}

export function hostStatePath(hostDir: string): string {
  return path.join(metaDir(hostDir), 'state.json');
}

export function lockPath(dir: string): string {
  return path.join(dir, '.modelmount.lock');
}

/** Container path of an artifact: containerDir + "/" + id (ids are safe POSIX relative paths). */
export function containerPathOf(containerDir: string, artifactId: string): string {
  return `${containerDir.replace(/\/+$/, '')}/${artifactId}`;
}
