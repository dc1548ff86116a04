/** Turn the manifest's sources into Source objects, preferred one first. */
import type { ResolvedSource } from '../manifest/schema.ts';
import { orderSources } from '../manifest/select.ts';
import { createFileSource } from './file.ts';
import { createHttpSource, type HttpSourceOptions } from './http.ts';
import type { Source } from './types.ts';

export function createSource(src: ResolvedSource, http: HttpSourceOptions = {}): Source {
  return src.kind === 'http' ? createHttpSource(src, http) : createFileSource(src, http.timeouts ? { timeouts: http.timeouts } : {});
}

export function resolveSources(sources: ResolvedSource[], opts: { preferred?: string; http?: HttpSourceOptions } = {}): Source[] {
  return orderSources(sources, opts.preferred).map((s) => createSource(s, opts.http));
}
