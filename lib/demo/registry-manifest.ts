/**
 * The demo's registry manifest: a copy of the demo manifest whose only source is the set `publish`
 * pushed, pinned by the digest publish returned, with its own host folder and store
 * (so the install really comes from the registry) and no Compose side (the worker keeps its models).
 */
import fs from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { writeFileAtomic } from '../fs-atomic.ts';

/** Writes the registry manifest to `o.to`, its one source `o.pinned`. */
export async function writeRegistryManifest(o: {
  from: string;
  to: string;
  /** oci://REGISTRY/REPO@sha256:… as publishSet returned it */
  pinned: string;
  /** relative to `o.to`'s folder, like every path in a manifest */
  hostDir: string;
  cacheDir: string;
}): Promise<void> {
  const doc = parseDocument(await fs.readFile(o.from, 'utf8'));
  doc.commentBefore = ` The demo set pulled from a local OCI registry (written by \`npm run demo\`).`;
  doc.set('hostDir', o.hostDir);
  doc.set('cacheDir', o.cacheDir);
  doc.set('sources', doc.createNode([{ name: 'demo-registry', url: o.pinned }]));
  doc.delete('compose');
  doc.delete('smoke');
  await writeFileAtomic(o.to, doc.toString());
}
