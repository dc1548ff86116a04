/** The digests written directly (lib/manifest/digest.ts) equal the generic canonical JSON of the same content (issue 15). */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, manifestDigest, selectionDigest } from '../lib/manifest/digest.ts';
import { sortedFileEntries, type Artifact, type Manifest } from '../lib/manifest/schema.ts';

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** the digests as they were defined: canonicalJson of the whole content, files included */
function referenceManifestDigest(m: Pick<Manifest, 'version' | 'artifacts' | 'require' | 'compose'>): string {
  return sha(
    canonicalJson({
      format: 'modelmount-manifest/1',
      version: m.version,
      artifacts: [...m.artifacts]
        .sort((a, b) => cmp(a.id, b.id))
        .map((a) => ({ id: a.id, files: sortedFileEntries(a.files), labels: a.labels, optional: a.optional, env: a.env ?? null })),
      require: m.require.map((r) => ({ anyOf: [...new Set(r.anyOf)].sort(cmp) })).sort((a, b) => cmp(canonicalJson(a), canonicalJson(b))),
      compose: m.compose ? { services: [...m.compose.services].sort(cmp), containerDir: m.compose.containerDir } : null,
    }),
  );
}

function referenceSelectionDigest(artifacts: readonly Artifact[]): string {
  return sha(
    canonicalJson({
      format: 'modelmount-selection/1',
      artifacts: [...artifacts].sort((a, b) => cmp(a.id, b.id)).map((a) => ({ id: a.id, files: sortedFileEntries(a.files) })),
    }),
  );
}

const fileArb = fc.record({ path: fc.string({ unit: 'binary', minLength: 1 }), size: fc.nat(), sha256: fc.stringMatching(/^[0-9a-f]{64}$/) });
const artifactArb = fc.record({
  id: fc.string({ unit: 'binary', minLength: 1 }),
  files: fc.array(fileArb, { maxLength: 6 }),
  labels: fc.dictionary(fc.string(), fc.string()),
  optional: fc.boolean(),
  env: fc.option(fc.string(), { nil: undefined }),
});

describe('manifestDigest / selectionDigest', () => {
  it('equal the canonical JSON of the content (paths with quotes, backslashes, control and non-BMP characters)', () => {
    fc.assert(
      fc.property(fc.array(artifactArb, { maxLength: 4 }), fc.array(fc.record({ anyOf: fc.array(fc.string()) }), { maxLength: 3 }), (artifacts, require) => {
        const m = { version: 1 as const, artifacts: artifacts as unknown as Artifact[], require, compose: undefined };
        expect(manifestDigest(m)).toBe(referenceManifestDigest(m));
        expect(selectionDigest(m.artifacts)).toBe(referenceSelectionDigest(m.artifacts));
      }),
      { numRuns: 500 },
    );
  });

  it('a known digest stays what it was', () => {
    const a = { id: 'student/v0_ja', files: [{ path: 'b "x".bin', size: 3, sha256: 'a'.repeat(64) }, { path: 'a\\é.bin', size: 0, sha256: 'b'.repeat(64) }], labels: { lang: 'ja' }, optional: false } as unknown as Artifact;
    const m = { version: 1 as const, artifacts: [a], require: [{ anyOf: ['student/v0_ja'] }], compose: { services: ['worker'], containerDir: '/models' } } as unknown as Manifest;
    expect(manifestDigest(m)).toBe(referenceManifestDigest(m));
    expect(selectionDigest([a])).toBe(referenceSelectionDigest([a]));
  });
});
