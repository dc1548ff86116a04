/**
 * `modelmount publish oci://registry/repo:TAG`: push the selected artifacts (verified bytes from
 * the store or the host folder) to an OCI registry as one artifact, and print the manifest source
 * entry that pins it by digest. The work: lib/author/publish.ts.
 */
import { defineCommand } from '../cli/command.ts';
import { contextOptions, selectionOptions } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, SELECTION_FLAGS } from './specs.ts';

export const publishCommand = defineCommand({
  name: 'publish',
  operands: 'own',
  summary: 'push the selected artifacts to an OCI registry as one artifact and print the source entry that pins it',
  usage: 'modelmount publish oci://REGISTRY/REPO:TAG [--only IDS] [--labels K=V] [--include-optional] [--insecure] [--json]',
  flags: [
    ...pickFlags(SELECTION_FLAGS, 'only', 'labels', 'include-optional'),
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'cache-dir', 'retries'),
    { name: 'insecure', type: 'boolean', help: 'allow plain http to a registry that is not loopback' },
    { name: 'name', type: 'string', value: 'NAME', help: 'source name in the printed manifest entry (default: registry)' },
    JSON_FLAG,
  ],
  details:
    'One layer per file, titled <artifact id>/<path>, with the empty config and artifactType application/vnd.modelmount.set.v1+json. Each file is checked against the manifest (size, sha256) before it is pushed; blobs the repository has are not uploaded again. Credentials: ~/.docker/config.json (docker login / oras login). Exit status 2 (a file is not installed), 3 (registry or auth failure), 4 (a local copy does not match the manifest).',
  run: async (flags, io, signal) => {
    await (await import('../author/publish.ts')).publishSet({ ...contextOptions(flags), ...selectionOptions(flags), args: flags._, insecure: flags.insecure === true, name: flags.name }, io, signal);
    return 0;
  },
});
