/**
 * The override for `docker stack deploy`: the usual one (read-only binds of the artifact folders,
 * env variables) plus, on each service, a placement constraint on the node label that
 * `swarm provision` sets where the verified set is. Pure: the manager need not hold the models.
 * The base file's `version:` is repeated: `docker stack deploy` refuses a versioned base file
 * combined with an unversioned override.
 */
import fs from 'node:fs/promises';
import { parse } from 'yaml';
import { composeSettingsOf, renderOverride } from '../../compose/override.ts';
import type { Artifact, Manifest } from '../../manifest/schema.ts';
import { selectionDigest } from '../../manifest/digest.ts';
import { setConstraint } from './provision.ts';

export function renderSwarmOverride(input: { manifest: Manifest; artifacts: readonly Artifact[]; baseVersion?: string }): string {
  const digest = selectionDigest(input.artifacts);
  const text = renderOverride({ manifest: input.manifest, artifacts: input.artifacts, placement: [setConstraint(digest)] });
  const cut = text.indexOf('\nservices:');
  const note = `# Swarm: tasks are placed only on nodes labelled ${setConstraint(digest).replace('node.labels.', '').replace('==', '=')} by \`modelmount swarm provision\`.`;
  const version = input.baseVersion ? `version: ${JSON.stringify(input.baseVersion)}\n` : '';
  return `${text.slice(0, cut)}\n${note}\n${version}${text.slice(cut + 1)}`;
}

/** The `version:` of the first Compose file, if it has one. */
export async function baseComposeVersion(manifest: Manifest): Promise<string | undefined> {
  const first = composeSettingsOf(manifest).files[0];
  if (!first) return undefined;
  try {
    const doc = parse(await fs.readFile(first, 'utf8')) as { version?: unknown } | null;
    return typeof doc?.version === 'string' || typeof doc?.version === 'number' ? String(doc.version) : undefined;
  } catch {
    return undefined;
  }
}
