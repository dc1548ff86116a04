/**
 * The manifest's shape (version 1). `RawManifest` is what the YAML holds after
 * schema validation; `Manifest` is the resolved form every other module uses:
 * absolute paths (resolved against the manifest's own folder), parsed sources.
 */
import { z } from 'zod';

export const SHA256_RE = /^[0-9a-f]{64}$/;
/** env var names as POSIX shells accept them */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** label keys/values: short, shell- and flag-friendly */
export const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** an OCI tag (docker's grammar) or a sha256 digest */
export const OCI_REF_RE = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[0-9a-f]{64})$/;

export const fileSchema = z.strictObject({
  path: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(SHA256_RE, 'must be 64 lowercase hex characters (sha256sum output)'),
});

export const artifactSchema = z.strictObject({
  id: z.string(),
  description: z.string().optional(),
  labels: z.record(z.string().regex(LABEL_RE), z.string().regex(LABEL_RE)).default({}),
  optional: z.boolean().default(false),
  env: z.string().regex(ENV_NAME_RE, 'must be an environment variable name like LEARNING_MACHINE_STUDENT_JA_DIR').optional(),
  files: z.array(fileSchema).min(1, 'an artifact needs at least one file'),
  /** oci sources: this artifact's tag or sha256:digest in the source's repository (default: the url's) */
  ociRef: z.string().regex(OCI_REF_RE, 'must be a tag like v0_ja or a digest like sha256:<64 hex>').optional(),
});

export const sourceSchema = z.strictObject({
  name: z.string().regex(LABEL_RE, 'use letters, digits, "-", "_" or "."'),
  url: z.string().min(1),
  tokenEnv: z.string().regex(ENV_NAME_RE, 'must be an environment variable name like MODELS_TOKEN').optional(),
  /** s3: the bucket's region (default: AWS_REGION, the profile's region, or us-east-1 with a custom endpoint) */
  region: z.string().regex(/^[a-z0-9-]{2,40}$/, 'must be a region name like eu-west-1').optional(),
  /** s3: a custom endpoint (Ceph, MinIO, R2 …), addressed path-style */
  endpoint: z.string().min(1).optional(),
  /** s3: the profile in ~/.aws/config and ~/.aws/credentials */
  profile: z.string().regex(/^[A-Za-z0-9_.+@-]{1,64}$/, 'must be a profile name from ~/.aws/config').optional(),
  /** s3 endpoint / oci registry: allow plain http to a host that is not loopback */
  insecure: z.boolean().optional(),
});

export const requireSchema = z.strictObject({
  anyOf: z.array(z.string()).min(1),
});

export const composeSchema = z.strictObject({
  files: z.array(z.string()).min(1),
  services: z.array(z.string().min(1)).min(1),
  override: z.string().min(1),
  containerDir: z.string().regex(/^\/(?:[^/\0]+(?:\/[^/\0]+)*)?$/, 'must be an absolute container path without a trailing slash, e.g. /app/learning_machine/artifacts'),
  /** Name of the `.dockerignore` build context folder, relative to the manifest; defaults to the first compose file's folder. */
  context: z.string().optional(),
});

export const smokeSchema = z.strictObject({
  command: z.array(z.string()).min(1).optional(),
  timeoutSeconds: z.number().int().positive().default(300),
});

export const manifestSchema = z.strictObject({
  version: z.literal(1),
  hostDir: z.string().min(1),
  cacheDir: z.string().min(1).optional(),
  jobs: z.number().int().positive().max(64).optional(),
  /** release sets kept per manifest for `rollback` (and by `gc`), default 3 */
  keepReleases: z.number().int().positive().max(100).optional(),
  sources: z.array(sourceSchema).min(1, 'list at least one source'),
  require: z.array(requireSchema).default([]),
  artifacts: z.array(artifactSchema).min(1, 'list at least one artifact'),
  compose: composeSchema.optional(),
  smoke: smokeSchema.optional(),
});

export type RawManifest = z.infer<typeof manifestSchema>;
export type FileEntry = z.infer<typeof fileSchema>;
export type Artifact = z.infer<typeof artifactSchema>;
export type RequireRule = z.infer<typeof requireSchema>;

export type SourceKind = 'http' | 'file' | 's3' | 'oci';

export interface ResolvedSource {
  name: string;
  kind: SourceKind;
  /** http(s): base URL ending in "/"; file: absolute folder path; s3: s3://bucket/prefix/ (prefix may be empty) */
  base: string;
  tokenEnv?: string;
  /** s3 only */
  region?: string;
  /** s3 only: custom endpoint URL (path-style addressing) */
  endpoint?: string;
  /** s3 only */
  profile?: string;
  /** s3 endpoint / oci registry: plain http allowed beyond loopback */
  insecure?: boolean;
  /** oci only: artifact id → its own tag or sha256:digest (`ociRef:` in the manifest) */
  ociRefs?: Record<string, string>;
}

export interface ComposeSettings {
  /** absolute paths */
  files: string[];
  services: string[];
  /** absolute path */
  override: string;
  containerDir: string;
  /** absolute path of the build context whose .dockerignore is checked */
  context: string;
}

export interface Manifest {
  /** absolute path of the manifest file */
  path: string;
  /** folder of the manifest: every relative path in it resolves here */
  dir: string;
  /** sha256 of the canonical content (ids, paths, sizes, digests), for cache keys and override staleness */
  digest: string;
  version: 1;
  hostDir: string;
  cacheDir?: string;
  jobs?: number;
  /** release sets kept for `rollback` (manifest `keepReleases`, default 3) */
  keepReleases?: number;
  sources: ResolvedSource[];
  require: RequireRule[];
  artifacts: Artifact[];
  compose?: ComposeSettings;
  smoke?: { command?: string[]; timeoutSeconds: number };
}

/** Files as a manifest lists and hashes them: path, size and sha256 only, sorted by path (code-unit order). */
export function sortedFileEntries(files: readonly FileEntry[]): FileEntry[] {
  return [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
}
