/**
 * Publish, what `modelmount publish oci://registry/repo:TAG` runs: push the selected artifacts
 * (verified bytes from the store or the host folder) to an OCI registry as one artifact, and print
 * the manifest source entry that pins it by digest. The OCI code loads only when it runs.
 */
import { UsageError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import type { Io } from '../io.ts';
import { selectArtifacts } from '../manifest/select.ts';
import { loadRunContext, type ContextOptions } from '../run-context.ts';
import { formatBytes } from '../ui/format.ts';
import { selectOptionsOf, type SelectionOptions } from '../update/installed-set.ts';
import type { PublishResult } from '../sources/oci/publish.ts';

export interface PublishOptions extends ContextOptions, SelectionOptions {
  /** the words after `publish`: one registry reference, oci://REGISTRY/REPO:TAG */
  args: string[];
  /** allow plain http to a registry that is not loopback */
  insecure?: boolean;
  /** source name in the printed manifest entry (default: registry) */
  name?: string;
}

/** Pushes the set, prints what it pushed, and returns it (the manifest's digest and the reference that pins it). */
export async function publishSet(opts: PublishOptions, io: Io, signal: AbortSignal): Promise<PublishResult> {
  const target = opts.args[0];
  if (typeof target !== 'string' || opts.args.length !== 1) {
    throw new UsageError('publish takes one argument: the registry reference, oci://REGISTRY/REPO:TAG.', { hint: `e.g. ${commandFor('publish', 'oci://registry.example.com/team/models:v1 --only student/v0_ja')}` });
  }
  const { parsePublishTarget, publishArtifacts } = await import('../sources/oci/publish.ts');
  const ref = parsePublishTarget(target);
  const ctx = await loadRunContext(opts, io, signal);
  const artifacts = selectArtifacts(ctx.manifest, selectOptionsOf(opts));
  const result = await publishArtifacts({
    target: ref,
    artifacts,
    cacheDir: ctx.cacheDir,
    hostDir: ctx.hostDir,
    insecure: opts.insecure === true,
    http: { env: io.env, ...(opts.retries !== undefined ? { retry: { limit: opts.retries } } : {}) },
    signal,
    ...(ctx.json ? {} : { onLayer: (l) => ctx.log(`${l.uploaded ? 'Pushed' : 'Present'} ${l.title} (${formatBytes(l.size)}, from the ${l.from})`) }),
  });
  const name = opts.name ?? 'registry';
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
  return result;
}
