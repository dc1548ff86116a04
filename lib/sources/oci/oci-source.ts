/**
 * An OCI registry as a source: `url: oci://registry/team/models[:tag|@sha256:…]`, with an
 * artifact's own `ociRef:` winning over the url's.
 *
 * What is read: an OCI image manifest (or Docker schema 2 manifest) whose layers are the files
 * themselves, each titled by its `org.opencontainers.image.title` annotation — what `oras push`
 * and `modelmount publish` write. A file is the layer titled `<artifact id>/<path>` (a published
 * set), or `<path>` (one artifact per tag, as `oras push reg/repo:tag model.safetensors` makes).
 * Not read: image indexes, and archives as layers (KitOps ModelKits, `oras push` of a folder:
 * tar layers whose bytes are not the file's).
 *
 * Before any byte: the layer's digest must be `sha256:<the manifest's sha256>` and its size the
 * manifest's size (else IntegrityError, exit 4). Blobs are fetched by digest with Range resume.
 */
import { createHash } from 'node:crypto';
import { IntegrityError, SourceError } from '../../errors.ts';
import type { ResolvedSource } from '../../manifest/schema.ts';
import { guardBody } from '../guard-body.ts';
import { stallBounds } from '../../stall.ts';
import type { HttpSourceOptions } from '../http/options.ts';
import { parseContentRange } from '../http/range.ts';
import type { OpenedRange, OpenRequest, Source } from '../types.ts';
import { formatReference, parseOciReference } from './reference.ts';
import { header, readText, RegistryClient } from './registry.ts';

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  empty: 'application/vnd.oci.empty.v1+json',
} as const;
export const TITLE = 'org.opencontainers.image.title';

export interface Layer {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Layer;
  layers?: Layer[];
  annotations?: Record<string, string>;
}

/**
 * Layers whose bytes are an archive, not the file: compressed layers, KitOps ModelKit layers, and
 * `oras push` of a folder (annotation io.deis.oras.content.unpack). A plain `…layer.v1.tar` media
 * type alone proves nothing: oras gives it to single files by default (their bytes are the file's).
 */
function isArchiveLayer(l: Layer): boolean {
  return /(\+gzip|\+zstd|\.gzip|\.zstd)$/.test(l.mediaType ?? '') || (l.mediaType ?? '').startsWith('application/vnd.kitops.') || l.annotations?.['io.deis.oras.content.unpack'] === 'true';
}

export function createOciSource(src: ResolvedSource, opts: HttpSourceOptions = {}): Source {
  const target = parseOciReference(src.base);
  const client = new RegistryClient(target, src.insecure === true, opts);
  const display = `${src.name} (${formatReference(target)})`;
  const limits = stallBounds(opts.timeouts);
  const manifests = new Map<string, Promise<ImageManifest>>();

  function refFor(artifactId: string): string {
    const ref = src.ociRefs?.[artifactId] ?? target.ref;
    if (!ref) {
      throw new SourceError('ENOREF', `${src.name}: no tag or digest for ${artifactId} in ${formatReference(target)}`, {
        retryable: false,
        hint: 'Add `:tag` or `@sha256:…` to the oci url, or `ociRef:` to the artifact.',
      });
    }
    return ref;
  }

  async function fetchManifest(ref: string, signal?: AbortSignal): Promise<ImageManifest> {
    const what = formatReference(target, ref);
    const res = await client.request(`${target.repository}/manifests/${ref}`, what, {
      headers: { accept: [MEDIA.ociManifest, MEDIA.dockerManifest, MEDIA.ociIndex, MEDIA.dockerList].join(', ') },
      ...(signal ? { signal } : {}),
    });
    const text = await readText(res.body, 4 * 1024 * 1024);
    if (ref.startsWith('sha256:')) {
      const actual = `sha256:${createHash('sha256').update(text).digest('hex')}`;
      if (actual !== ref) throw client.error('EDIGEST', `the registry sent a manifest whose digest is ${actual}`, what, { retryable: false });
    }
    let m: ImageManifest & { manifests?: unknown };
    try {
      m = JSON.parse(text) as ImageManifest & { manifests?: unknown };
    } catch {
      throw client.error('EMANIFEST', 'the registry sent a manifest that is not JSON', what, { retryable: false });
    }
    const type = m.mediaType ?? header(res.headers, 'content-type') ?? '';
    if (type === MEDIA.ociIndex || type === MEDIA.dockerList || Array.isArray(m.manifests)) {
      throw client.error('EMANIFEST', 'this is an image index (a multi-platform image), not a model artifact', what, {
        retryable: false,
        hint: 'Point the source (or ociRef) at an artifact pushed with `modelmount publish` or `oras push`.',
      });
    }
    if (!Array.isArray(m.layers)) throw client.error('EMANIFEST', 'the manifest has no layers', what, { retryable: false });
    return m;
  }

  function manifestFor(ref: string, signal?: AbortSignal): Promise<ImageManifest> {
    let p = manifests.get(ref);
    if (!p) {
      p = fetchManifest(ref, signal);
      manifests.set(ref, p);
      p.catch(() => manifests.delete(ref));
    }
    return p;
  }

  async function open(req: OpenRequest): Promise<OpenedRange> {
    const ref = refFor(req.artifactId);
    const where = formatReference(target, ref);
    const label = `${req.artifactId}/${req.path}`;
    const m = await manifestFor(ref, req.signal);
    const layers = m.layers ?? [];
    const layer = layers.find((l) => l.annotations?.[TITLE] === label) ?? layers.find((l) => l.annotations?.[TITLE] === req.path);
    if (!layer) {
      const titles = layers.map((l) => l.annotations?.[TITLE]).filter(Boolean);
      throw client.error('EMISSING', `no layer titled ${label} or ${req.path} (${titles.length ? `layers: ${titles.slice(0, 5).join(', ')}${titles.length > 5 ? ', …' : ''}` : 'no titled layers'})`, where, {
        retryable: false,
        hint: 'Publish the file into this artifact (modelmount publish), or fix the tag/digest in the manifest.',
      });
    }
    const what = `${where} layer ${layer.annotations?.[TITLE]}`;
    if (isArchiveLayer(layer)) {
      throw client.error('ELAYER', `the layer is an archive (${layer.mediaType}), not the file itself`, what, {
        retryable: false,
        hint: 'modelmount reads artifacts whose layers are the files (oras push FILE…, modelmount publish); unpack KitOps ModelKits or folder pushes and publish the files.',
      });
    }
    if (req.expectedSha256 !== undefined && (layer.digest !== `sha256:${req.expectedSha256}` || layer.size !== req.expectedSize)) {
      // the registry and the manifest disagree: no byte is fetched
      const digest = /^sha256:([0-9a-f]{64})$/.exec(layer.digest)?.[1];
      throw new IntegrityError(
        label,
        { size: req.expectedSize, sha256: req.expectedSha256 },
        { size: layer.size, ...(digest ? { sha256: digest } : {}) },
        `${src.name} (${where}, layer digest ${layer.digest})`,
        'The registry artifact holds other bytes than the manifest describes; nothing was fetched. Point ociRef / the url at the right tag or digest, or update the manifest entry.',
      );
    }
    const expected = req.expectedSize;
    const offset = req.offset > 0 && req.offset < expected ? req.offset : 0;
    const res = await client.request(`${target.repository}/blobs/${layer.digest}`, what, {
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      ...(req.signal ? { signal: req.signal } : {}),
      accept: (s) => s === 200 || s === 206,
    });
    let start = 0;
    if (offset > 0 && res.status === 206) {
      const cr = parseContentRange(header(res.headers, 'content-range'));
      if (!cr || cr.start !== offset || cr.end !== expected - 1) {
        res.body.destroy();
        throw client.error('EBADRANGE', `the registry answered a range we did not ask for (${header(res.headers, 'content-range') ?? 'none'})`, what, { retryable: true });
      }
      start = offset;
    } else if (res.status === 206) {
      res.body.destroy();
      throw client.error('EBADRANGE', 'the registry answered 206 to a request without Range', what, { retryable: false });
    }
    const enc = header(res.headers, 'content-encoding')?.trim().toLowerCase();
    if (enc && enc !== 'identity') {
      res.body.destroy();
      throw client.error('EENCODING', `the registry sent Content-Encoding: ${enc.slice(0, 40)} although identity was asked for`, what, { retryable: false });
    }
    const cl = header(res.headers, 'content-length');
    if (cl !== undefined && /^\d+$/.test(cl) && Number(cl) !== expected - start) {
      res.body.destroy();
      throw client.error('ESIZE', `the registry says the blob${start ? ` from byte ${start}` : ''} is ${cl} bytes, expected ${expected - start}`, what, { retryable: false });
    }
    const stream = guardBody(res.body, {
      ...limits,
      expected: expected - start,
      start,
      total: expected,
      fail: (code, reason, retryable) => client.error(code, reason, what, { retryable }),
      ...(req.signal ? { signal: req.signal } : {}),
    });
    // a blob is content-addressed: its digest is the validator
    return { start, totalSize: expected, validator: layer.digest, stream };
  }

  /** Reachability and login: GET /v2/ (any answer below 500 but 401 after the auth flow). */
  async function probe(signal?: AbortSignal): Promise<void> {
    const res = await client.request('', `oci://${target.registry}`, { ...(signal ? { signal } : {}), accept: (s) => s < 500 && s !== 401 });
    res.body.destroy();
  }

  return { name: src.name, kind: 'oci', display, open, probe };
}
