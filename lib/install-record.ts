/**
 * <hostDir>/.modelmount/installed.json: what the last successful update put in
 * the host folder, from which manifest and which source. Read by compose
 * (staleness), doctor, status and gc.
 */
import { installRecordPath } from './layout.ts';
import { readJsonIfExists, writeFileAtomic } from './fs-atomic.ts';
import type { FileEntry } from './manifest/schema.ts';

export interface InstalledArtifact {
  files: FileEntry[];
  /** manifest name of the source the last fetched file came from; "store" when everything was already local */
  source: string;
  installedAt: string;
}

export interface InstallRecord {
  version: 1;
  manifestPath: string;
  manifestDigest: string;
  updatedAt: string;
  artifacts: Record<string, InstalledArtifact>;
}

export async function readInstallRecord(hostDir: string): Promise<InstallRecord | undefined> {
  const rec = await readJsonIfExists<InstallRecord>(installRecordPath(hostDir));
  return rec?.version === 1 ? rec : undefined;
}

export async function writeInstallRecord(hostDir: string, record: InstallRecord): Promise<void> {
  await writeFileAtomic(installRecordPath(hostDir), `${JSON.stringify(record, null, 2)}\n`);
}
