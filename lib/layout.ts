/**
 * Where things live on disk. One place, so the store, the installer, doctor,
 * status and gc agree.
 *
 *   <cacheDir>/sha256/ab/abcdef…            verified blobs, read-only, content-addressed
 *   <cacheDir>/tmp/<sha256>.<unique>.partial in-flight downloads (resumable)
 *   <cacheDir>/state.json                    verified-state cache for blobs
 *   <hostDir>/<artifact id>/<file path>      what containers mount (one folder per artifact)
 *   <hostDir>/.modelmount/installs/<manifest>-<hash>.json  per manifest: what it installed, from where (lib/install-record.ts)
 *   <hostDir>/.modelmount/installed.json     the single record earlier versions kept (still read; migrated on the next update)
 *   <cacheDir>/installs/<hash>.json          per host folder and manifest: which blobs that install uses (store gc keeps them)
 *   <hostDir>/.modelmount/state.json         verified-state cache for host files
 *   <hostDir>/.modelmount/releases/<artifact id>/<artifact digest>/<file>  immutable releases (hardlinks), what the override mounts (lib/releases/)
 *   <hostDir>/.modelmount/release-sets/<manifest>-<hash>.json  per manifest: the current release set and the ones kept for rollback
 *   <dir>/.modelmount.lock/holder.json       run lock of the store and of the host folder (lib/lock/)
 *   <user cache>/modelmount-manifests/<path hash>-<build hash>.json  large manifests kept parsed (lib/manifest/parsed-cache.ts)
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { storeUnder } from './default-store.ts';

/**
 * The user's home folder: HOME, else the passwd entry's; undefined when neither is known (HOME
 * unset and a uid without a passwd entry, as in `docker run --user $(id -u)`).
 */
function homeFolder(env: NodeJS.ProcessEnv): string | undefined {
  if (env.HOME) return env.HOME;
  try {
    return os.userInfo().homedir || undefined;
  } catch {
    return undefined;
  }
}

/** The per-user store ($XDG_CACHE_HOME/modelmount, else storeUnder the home folder); undefined when no home folder is known and XDG_CACHE_HOME is unset. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'modelmount');
  const home = homeFolder(env);
  return home === undefined ? undefined : storeUnder(home, platform);
}

/** `<user cache>/modelmount-manifests/`, beside the default store: large validated manifests kept parsed (lib/manifest/parsed-cache.ts); undefined as defaultCacheDir. */
export function parsedManifestsDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const store = defaultCacheDir(env);
  return store === undefined ? undefined : path.join(path.dirname(store), 'modelmount-manifests');
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

/**
 * A host file's path from its ids (path.join: normalises whatever it is given). lib/verify's
 * joinPlain gives the same path for a plain manifest path from the artifact's folder made once,
 * by concatenation: a check of 20,000 files joins each one without normalising again (and keeps
 * one short string each, not the rope of ~14 pieces path.join leaves in V8).
 */
export function hostFilePath(hostDir: string, artifactId: string, filePath: string): string {
  return path.join(artifactDir(hostDir, artifactId), ...filePath.split('/'));
}

const META_DIR = '.modelmount';

export function metaDir(hostDir: string): string {
  return path.join(hostDir, META_DIR);
}

/** keptDir relative to the host folder, POSIX (what ensureRealDir takes). */
export function keptRelDir(): string {
  return `${META_DIR}/kept`;
}

/**
 * `<hostDir>/.modelmount/kept/`: previous versions of files a failed switch could not put back,
 * `<artifact id>/<path>.<UTC time>`. The user's to restore or delete: nothing of modelmount removes them.
 */
export function keptDir(hostDir: string): string {
  return path.join(hostDir, keptRelDir());
}

/** `<hostDir>/.modelmount/installs/`: one install record per manifest that installed into the folder. */
export function installRecordsDir(hostDir: string): string {
  return path.join(metaDir(hostDir), 'installs');
}

/** Readable and unique: the manifest's file name, then a digest of its absolute path. */
export function installRecordPath(hostDir: string, manifestPath: string): string {
  const name = path.basename(manifestPath).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  return path.join(installRecordsDir(hostDir), `${name}-${shortDigest(path.resolve(manifestPath))}.json`);
}

/** `<hostDir>/.modelmount/releases/`: one folder per artifact, one immutable release per content digest below it. */
export function releasesDir(hostDir: string): string {
  return path.join(metaDir(hostDir), 'releases');
}

/** `<hostDir>/.modelmount/releases/<artifact id>/<artifact digest>`: never changes once it exists. */
export function releaseDir(hostDir: string, artifactId: string, digest: string): string {
  return path.join(releasesDir(hostDir), ...artifactId.split('/'), digest);
}

/** `<hostDir>/.modelmount/release-sets/<manifest>-<hash>.json`: the release sets of one manifest (current + kept). */
export function releaseSetsPath(hostDir: string, manifestPath: string): string {
  return path.join(metaDir(hostDir), 'release-sets', path.basename(installRecordPath(hostDir, manifestPath)));
}

export function releaseSetsDir(hostDir: string): string {
  return path.join(metaDir(hostDir), 'release-sets');
}

/** The one record of earlier versions (whichever manifest updated last). */
export function legacyInstallRecordPath(hostDir: string): string {
  return path.join(metaDir(hostDir), 'installed.json');
}

/** `<cacheDir>/installs/`: which host folders (and manifests) use the store's blobs. */
export function storeRegistrationsDir(cacheDir: string): string {
  return path.join(cacheDir, 'installs');
}

export function storeRegistrationPath(cacheDir: string, hostDir: string, manifestPath: string): string {
  return path.join(storeRegistrationsDir(cacheDir), `${shortDigest(`${path.resolve(hostDir)}\0${path.resolve(manifestPath)}`)}.json`);
}

/** `warm`'s registration of a manifest's warmed blobs in the store (no host folder: it installs nothing). */
export function storeWarmRegistrationPath(cacheDir: string, manifestPath: string): string {
  return path.join(storeRegistrationsDir(cacheDir), `warm-${shortDigest(path.resolve(manifestPath))}.json`);
}

function shortDigest(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
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
