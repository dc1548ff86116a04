/**
 * The demo's registry manifest: a copy of the demo manifest whose only source is the set `publish`
 * pushed, pinned by the digest the registry reports for the tag, with its own host folder and store
 * (so the install really comes from the registry) and no Compose side (the worker keeps its models).
 */
import fs from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { writeFileAtomic } from '../fs-atomic.ts';

const MANIFEST_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];

/** The digest the registry serves `repository:tag` under (Docker-Content-Digest of the manifest). */
async function tagDigest(registryUrl: string, repository: string, tag: string): Promise<string> {
  const r = await fetch(`${registryUrl}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: MANIFEST_TYPES.join(', ') },
    signal: AbortSignal.timeout(10_000),
  });
  const digest = r.headers.get('docker-content-digest');
  if (r.status !== 200 || !digest?.startsWith('sha256:')) throw new Error(`the registry has no ${repository}:${tag} (HTTP ${r.status})`);
  return digest;
}

/** Writes the registry manifest to `o.to` and returns the pinned source URL it names. */
export async function writeRegistryManifest(o: {
  from: string;
  to: string;
  registry: { host: string; url: string };
  repository: string;
  tag: string;
  /** relative to `o.to`'s folder, like every path in a manifest */
  hostDir: string;
  cacheDir: string;
}): Promise<string> {
  const pinned = `oci://${o.registry.host}/${o.repository}@${await tagDigest(o.registry.url, o.repository, o.tag)}`;
  const doc = parseDocument(await fs.readFile(o.from, 'utf8'));
  doc.commentBefore = ` The demo set pulled from a local OCI registry (written by \`npm run demo\`).`;
  doc.set('hostDir', o.hostDir);
  doc.set('cacheDir', o.cacheDir);
  doc.set('sources', doc.createNode([{ name: 'demo-registry', url: pinned }]));
  doc.delete('compose');
  doc.delete('smoke');
  await writeFileAtomic(o.to, doc.toString());
  return pinned;
}
