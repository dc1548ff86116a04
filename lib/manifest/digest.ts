/**
 * Digests: the manifest's (what an install means) and a selection's (the bytes it installs,
 * the CI cache key of `warm --key`), both sha256 of canonical JSON with a format tag.
 */
import { createHash } from 'node:crypto';
import { sortedFileEntries, type Artifact, type FileEntry, type Manifest, type RequireRule } from './schema.ts';

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Text canonicalJson writes as it is (already canonical JSON). */
class CanonicalText {
  constructor(readonly json: string) {}
}

/** JSON with object keys sorted (code-unit order), no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value instanceof CanonicalText) return value.json;
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort(cmp);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * canonicalJson(sortedFileEntries(files)), written directly: the generic walk (a sort of the
 * keys, a string per key and value) took most of the digest of 20,000 files.
 */
function canonicalFiles(files: readonly FileEntry[]): CanonicalText {
  const parts = sortedFileEntries(files).map((f) =>
    f.path === undefined || f.sha256 === undefined || f.size === undefined
      ? canonicalJson(f) // never for a validated manifest: the generic way leaves such keys out
      : `{"path":${JSON.stringify(f.path)},"sha256":${JSON.stringify(f.sha256)},"size":${JSON.stringify(f.size)}}`,
  );
  return new CanonicalText(`[${parts.join(',')}]`);
}

function canonicalArtifact(a: Artifact): Record<string, unknown> {
  return {
    id: a.id,
    files: canonicalFiles(a.files),
    labels: a.labels,
    optional: a.optional,
    env: a.env ?? null,
  };
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * sha256 of what the manifest means for an install: version, artifacts (sorted
 * by id; files sorted by path with size and sha256; labels; optional; env),
 * require rules, compose services and containerDir. Comments, descriptions,
 * key order, source URLs, hostDir and cacheDir do not change it.
 */
export function manifestDigest(m: Pick<Manifest, 'version' | 'artifacts' | 'require' | 'compose'>): string {
  const content = {
    format: 'modelmount-manifest/1',
    version: m.version,
    artifacts: [...m.artifacts].sort((a, b) => cmp(a.id, b.id)).map(canonicalArtifact),
    require: m.require
      .map((r: RequireRule) => ({ anyOf: [...new Set(r.anyOf)].sort(cmp) }))
      .sort((a, b) => cmp(canonicalJson(a), canonicalJson(b))),
    compose: m.compose ? { services: [...m.compose.services].sort(cmp), containerDir: m.compose.containerDir } : null,
  };
  return sha256Hex(canonicalJson(content));
}

/**
 * sha256 of the bytes a selection installs: artifact ids, file paths, sizes and
 * sha256s, independent of input order. Labels, env names and descriptions do
 * not change it, so a CI cache keyed by it (`models:warm --key`) is only
 * invalidated when the files themselves change.
 */
export function selectionDigest(artifacts: readonly Artifact[]): string {
  const content = {
    format: 'modelmount-selection/1',
    artifacts: [...artifacts]
      .sort((a, b) => cmp(a.id, b.id))
      .map((a) => ({
        id: a.id,
        files: canonicalFiles(a.files),
      })),
  };
  return sha256Hex(canonicalJson(content));
}
