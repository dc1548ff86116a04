/**
 * Who uses a store: every install registers itself in the store it installed from
 * (`<cacheDir>/installs/<hash>.json`: host folder, manifest, the blobs its install uses),
 * so `gc` of a store shared by several projects (the per-user default) keeps every blob
 * a live registration references. A registration whose host folder (or manifest) is gone is forgotten.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { toDiskError } from '../disk-failure.ts';
import { readJsonIfExists, thereOrUnsure, writeFileAtomic } from '../fs-atomic.ts';
import { refuseLinksBelow } from '../fs-safe.ts';
import { sameJson } from '../same-json.ts';
import { storeRegistrationPath, storeRegistrationsDir, storeWarmRegistrationPath } from '../layout.ts';

export interface StoreRegistration {
  version: 1;
  /**
   * install (absent in older files): an update into `hostDir`, live while host folder and manifest exist;
   * warm: `warm` filled the store for the manifest (CI cache-warm), live while the manifest exists
   * (`hostDir` is the manifest's, for messages only). A later warm of that manifest replaces it.
   */
  kind?: 'install' | 'warm';
  hostDir: string;
  manifestPath: string;
  updatedAt: string;
  /** sha256 of every file the install wants */
  blobs: string[];
}

export interface StoredRegistration {
  file: string;
  registration: StoreRegistration;
}

/** Record (or refresh) that `hostDir`, installed from `manifestPath`, uses `blobs` of the store. */
export async function registerInstall(cacheDir: string, reg: Omit<StoreRegistration, 'version' | 'updatedAt' | 'kind'>): Promise<void> {
  await register(cacheDir, storeRegistrationPath(cacheDir, reg.hostDir, reg.manifestPath), reg);
}

/** Record (or replace) that `warm` filled the store with `blobs` for `manifestPath`: kept by gc while the manifest exists. */
export async function registerWarm(cacheDir: string, reg: Omit<StoreRegistration, 'version' | 'updatedAt' | 'kind'>): Promise<void> {
  await register(cacheDir, storeWarmRegistrationPath(cacheDir, reg.manifestPath), { ...reg, kind: 'warm' });
}

async function register(cacheDir: string, file: string, reg: Omit<StoreRegistration, 'version' | 'updatedAt'>): Promise<void> {
  const blobs = [...new Set(reg.blobs)].sort();
  const previous = await readJsonIfExists<StoreRegistration>(file, { realBelow: cacheDir, folder: 'cache' }).catch(() => undefined);
  if (previous && previous.hostDir === reg.hostDir && sameJson(previous.blobs, blobs)) return; // unchanged: no write
  const body: StoreRegistration = { version: 1, ...(reg.kind ? { kind: reg.kind } : {}), hostDir: reg.hostDir, manifestPath: reg.manifestPath, updatedAt: new Date().toISOString(), blobs };
  try {
    await writeFileAtomic(file, `${JSON.stringify(body, null, 2)}\n`, 0o644, { realBelow: cacheDir, folder: 'cache' });
  } catch (err) {
    // a store another user made, or a full disk: exit 5 naming the folder and --cache-dir, like the store's other writes
    throw toDiskError(err, `recording in ${path.dirname(file)} which blobs ${reg.kind === 'warm' ? 'the warmed manifest' : 'this install'} uses`, 'cache') ?? err;
  }
}

export async function listRegistrations(cacheDir: string): Promise<StoredRegistration[]> {
  // a link there is refused (exit 5), never read as "no registrations": gc would take other projects' blobs
  await refuseLinksBelow(cacheDir, storeRegistrationsDir(cacheDir));
  let names: string[];
  try {
    names = (await fs.readdir(storeRegistrationsDir(cacheDir))).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const out: StoredRegistration[] = [];
  for (const name of names) {
    const file = path.join(storeRegistrationsDir(cacheDir), name);
    const registration = await readJsonIfExists<StoreRegistration>(file).catch(() => undefined);
    if (registration?.version === 1 && typeof registration.hostDir === 'string' && Array.isArray(registration.blobs)) out.push({ file, registration });
  }
  return out;
}

/** Why a registration is no longer live (its host folder or its manifest is gone), or undefined while it is. */
export async function deadRegistration(reg: StoreRegistration): Promise<string | undefined> {
  if (reg.kind !== 'warm' && !(await thereOrUnsure(reg.hostDir))) return 'its host folder is gone';
  if (!(await thereOrUnsure(reg.manifestPath))) return 'its manifest is gone';
  return undefined;
}

export async function forgetRegistration(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}
