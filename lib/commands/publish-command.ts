/**
 * `modelmount publish oci://registry/repo:TAG`: push the selected artifacts (verified bytes from
 * the store or the host folder) to an OCI registry as one artifact, and print the manifest source
 * entry that pins it by digest. The OCI code loads only when this command runs.
 */
import { defineCommand } from '../cli/command.ts';
import { UsageError } from '../errors.ts';
import { selectArtifacts } from '../manifest/select.ts';
import { formatBytes } from '../ui/format.ts';
import { loadContext } from './context.ts';
import { selectOptionsFromFlags } from './installed-selection.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, SELECTION_FLAGS } from './specs.ts';
import { commandFor } from '../invocation.ts';

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
  async run(flags, io, signal) {
    const target = flags._[0];
    if (typeof target !== 'string' || flags._.length !== 1) {
      throw new UsageError('publish takes one argument: the registry reference, oci://REGISTRY/REPO:TAG.', { hint: `e.g. ${commandFor('publish', 'oci://registry.example.com/team/models:v1 --only student/v0_ja')}` });
    }
    const { parsePublishTarget, publishArtifacts } = await import('../sources/oci/publish.ts');
    const ref = parsePublishTarget(target);
    const ctx = await loadContext(flags, io);
    const artifacts = selectArtifacts(ctx.manifest, selectOptionsFromFlags(flags));
    const result = await publishArtifacts({
      target: ref,
      artifacts,
      cacheDir: ctx.cacheDir,
      hostDir: ctx.hostDir,
      insecure: flags.insecure,
      http: { env: io.env, ...(flags.retries !== undefined ? { retry: { limit: flags.retries } } : {}) },
      signal,
      ...(ctx.json ? {} : { onLayer: (l) => ctx.log(`${l.uploaded ? 'Pushed' : 'Present'} ${l.title} (${formatBytes(l.size)}, from the ${l.from})`) }),
    });
    const name = flags.name ?? 'registry';
    if (ctx.json) {
      io.stdout.write(`${JSON.stringify({ command: 'publish', ok: true, ...result, source: { name, url: result.pinned } }, null, 2)}\n`);
    } else {
      io.stdout.write(
        [
          `OK: published ${result.artifacts.join(', ')} (${result.layers.length} files, ${formatBytes(result.bytesUploaded)} uploaded) to ${result.reference}`,
          `digest: ${result.digest}`,
          'Manifest source entry (pinned by digest):',
          `  - name: ${name}`,
          `    url: ${result.pinned}`,
          '',
        ].join('\n'),
      );
    }
    return 0;
  },
});
