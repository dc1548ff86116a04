/** What garbage collection looks at, plans to remove, and keeps (planGc's input and output, applyGc's input). */
import type { BigIntStats } from 'node:fs';

export type GcKind = 'blob' | 'artifact' | 'file' | 'partial' | 'tmp' | 'release';

export interface GcItem {
  kind: GcKind;
  path: string;
  /** apparent size: every regular file below `path` */
  bytes: number;
  sha256?: string;
  /** artifact folder or file: the artifact id (its folder relative to the host folder) */
  id?: string;
  /** file: its path inside the artifact */
  file?: string;
  /** the store or host folder it belongs to */
  root: string;
}

export interface GcKept {
  hostDir: string;
  id: string;
  why: string[];
}

export interface GcPlan {
  removals: GcItem[];
  kept: { blobs: number; artifacts: GcKept[] };
  skipped: { path: string; reason: string }[];
  /** what is in a host folder that no install record says modelmount put there: never touched */
  notOurs: { path: string; reason: string }[];
  /** unreferenced blobs left in the store because nobody confirmed their removal (`holdBlobs`) */
  held: { blobs: number; bytes: number };
  /** sum of the removals' sizes */
  bytes: number;
  /** what removing them gives back: a file still hardlinked from something that stays frees nothing */
  bytesFreed: number;
  /** the stores and host folders looked at: their verified-state caches follow the removals */
  roots: { stores: string[]; hostDirs: string[] };
  /** files the removals take a name from while other names stay: removing it moves their ctime */
  shared: BigIntStats[];
}

export interface GcHost {
  dir: string;
  /** relative POSIX folders never to touch, with why (what a Compose override mounts) */
  protect: Map<string, string[]>;
  /** artifact id → why it stays and which of its files are wanted (given manifests, live install records) */
  wanted: Map<string, { why: string[]; files: Set<string> }>;
  /** what install records say modelmount installed here: artifact id → file paths */
  owned: Map<string, Set<string>>;
}

export interface GcInput {
  stores: string[];
  hostDirs: GcHost[];
  /** sha256 of every blob to keep */
  keepBlobs: ReadonlySet<string>;
  /** list unreferenced blobs as held instead of removing them (nobody said yes) */
  holdBlobs?: boolean;
  now?: number;
}
