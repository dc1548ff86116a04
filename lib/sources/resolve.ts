/** Turn the manifest's sources into Source objects, preferred one first. */
import type { ResolvedSource } from '../manifest/schema.ts';
import { orderSources } from '../manifest/select.ts';
import { redactUrl } from '../redact.ts';
import { createFileSource } from './file.ts';
import type { HttpSourceOptions } from './http/options.ts';
import { createHttpSource } from './http/source.ts';
import type { OpenRequest, Source } from './types.ts';

export function createSource(src: ResolvedSource, http: HttpSourceOptions = {}): Source {
  switch (src.kind) {
    case 'http':
      return createHttpSource(src, http);
    case 's3':
      return lazySource(src, () => import('./s3/s3-source.ts').then((m) => m.createS3Source(src, http)));
    case 'oci':
      return lazySource(src, () => import('./oci/oci-source.ts').then((m) => m.createOciSource(src, http)));
    default:
      return createFileSource(src, http.timeouts ? { timeouts: http.timeouts } : {});
  }
}

/**
 * A source whose module (and its SDK) loads on first use: prepare(), open() or probe(). Runs that
 * never touch an s3 or oci source never read their modules (nor the AWS SDK).
 */
function lazySource(src: ResolvedSource, load: () => Promise<Source>): Source {
  let loaded: Promise<Source> | undefined;
  const get = (): Promise<Source> => {
    loaded ??= load();
    return loaded;
  };
  return {
    name: src.name,
    kind: src.kind,
    display: `${src.name} (${src.base}${src.endpoint ? ` at ${redactUrl(src.endpoint)}` : ''})`,
    open: async (req: OpenRequest) => (await get()).open(req),
    probe: async (signal?: AbortSignal) => (await get()).probe?.(signal),
    prepare: () => {
      get().then(
        (s) => s.prepare?.(),
        () => {}, // open() reports a failure
      );
    },
  };
}

export function resolveSources(sources: ResolvedSource[], opts: { preferred?: string; http?: HttpSourceOptions } = {}): Source[] {
  return orderSources(sources, opts.preferred).map((s) => createSource(s, opts.http));
}
