/**
 * Push a selection of artifacts to an OCI registry as ONE artifact: one layer per file, titled
 * `<artifact id>/<path>` (`org.opencontainers.image.title`), the empty config, and the artifactType
 * of a modelmount set. Every file is read from the store (or the host folder) and checked against
 * the manifest's size and sha256 before it is pushed, so the registry never disagrees with the
 * manifest; blobs the repository already has are not uploaded again. Returns the manifest digest:
 * `oci://registry/repo@<digest>` pulls exactly these bytes back.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { IntegrityError, SourceError, UsageError } from '../../errors.ts';
import { blobPath, hostFilePath } from '../../layout.ts';
import type { Artifact } from '../../manifest/schema.ts';
import { classifyOciUrl } from '../../manifest/source-url.ts';
import { redactUrl } from '../../redact.ts';
import { sha256File } from '../../verify/hash.ts';
import type { HttpSourceOptions } from '../http/options.ts';
import { MEDIA, TITLE, type ImageManifest, type Layer } from './oci-source.ts';
import { formatReference, parseOciReference, type OciReference } from './reference.ts';
import { header, readText, RegistryClient } from './registry.ts';
import { commandFor } from '../../invocation.ts';

export const SET_ARTIFACT_TYPE = 'application/vnd.modelmount.set.v1+json';
const EMPTY = Buffer.from('{}');

export interface PublishedLayer {
  title: string;
  digest: string;
  size: number;
  /** false: the repository had the blob already */
  uploaded: boolean;
  from: 'store' | 'host';
}

export interface PublishResult {
  reference: string;
  /** the manifest digest: pin it in `url: oci://…@<digest>` or `ociRef:` */
  digest: string;
  pinned: string;
  artifacts: string[];
  layers: PublishedLayer[];
  bytesUploaded: number;
}

/** Where the verified bytes of a file are: the store's blob, else the host folder's copy. */
async function locate(cacheDir: string, hostDir: string, a: Artifact, f: Artifact['files'][number], signal?: AbortSignal): Promise<{ file: string; from: 'store' | 'host' }> {
  for (const [file, from] of [
    [blobPath(cacheDir, f.sha256), 'store'],
    [hostFilePath(hostDir, a.id, f.path), 'host'],
  ] as const) {
    try {
      const st = await fs.stat(file);
      if (!st.isFile() || st.size !== f.size) continue;
    } catch {
      continue;
    }
    const actual = await sha256File(file, signal);
    if (actual !== f.sha256) {
      throw new IntegrityError(`${a.id}/${f.path}`, f, { size: f.size, sha256: actual }, from === 'store' ? 'the store' : 'the host folder', `Nothing was published. Run \`${commandFor('update')}\` to restore the verified file, then publish again.`);
    }
    return { file, from };
  }
  throw new UsageError(`${a.id}/${f.path} is neither in the store nor in the host folder: nothing to publish it from.`, {
    code: 'ENOFILE',
    hint: `Run \`${commandFor('update')}\` (or \`warm\`) for this selection first, then publish.`,
  });
}

/** The registry reference `publish` writes to: the manifest's oci:// grammar (one parser), with a tag and no digest. */
export function parsePublishTarget(target: string): OciReference {
  const c = classifyOciUrl(target);
  // c.fix may suggest an @sha256: digest, which publish refuses: its own hint instead
  if ('error' in c) throw new UsageError(`Not a registry reference to publish to: ${c.error}`, { hint: 'Give oci://registry.example.com/team/models:TAG, a tag only (the digest is what publish prints).' });
  const ref = parseOciReference(c.base);
  if (ref.ref?.startsWith('sha256:')) throw new UsageError('publish writes a tag, not a digest', { hint: 'e.g. oci://registry.example.com/team/models:v1 (the digest is what publish prints)' });
  if (!ref.ref) throw new UsageError(`Give a tag to publish under: ${redactUrl(target)}:TAG`, { hint: 'e.g. oci://registry.example.com/team/models:v1' });
  return ref;
}

export async function publishArtifacts(opts: {
  target: OciReference;
  artifacts: Artifact[];
  cacheDir: string;
  hostDir: string;
  insecure?: boolean;
  http?: HttpSourceOptions;
  signal?: AbortSignal;
  onLayer?: (l: PublishedLayer) => void;
}): Promise<PublishResult> {
  const { target, signal } = opts;
  const client = new RegistryClient(target, opts.insecure === true, opts.http ?? {});
  const repo = target.repository;
  const where = formatReference(target);
  const withSignal = signal ? { signal } : {};

  // every file located and verified before the first byte goes out
  const files: { title: string; file: string; from: 'store' | 'host'; size: number; digest: string }[] = [];
  for (const a of opts.artifacts) {
    for (const f of a.files) {
      const { file, from } = await locate(opts.cacheDir, opts.hostDir, a, f, signal);
      files.push({ title: `${a.id}/${f.path}`, file, from, size: f.size, digest: `sha256:${f.sha256}` });
    }
  }

  async function has(digest: string): Promise<boolean> {
    const res = await client.request(`${repo}/blobs/${digest}`, `${where} blob ${digest}`, { method: 'HEAD', actions: 'pull,push', accept: (s) => s === 200 || s === 404, ...withSignal });
    res.body.destroy();
    return res.status === 200;
  }

  async function upload(digest: string, size: number, body: Buffer | (() => Readable), what: string): Promise<void> {
    const start = await client.request(`${repo}/blobs/uploads/`, what, { method: 'POST', actions: 'pull,push', accept: (s) => s === 202, ...withSignal, headers: { 'content-length': '0' } });
    start.body.destroy();
    const location = header(start.headers, 'location');
    if (!location) throw client.error('EPUSH', 'the registry gave no upload location', what, { retryable: false });
    const url = new URL(location, start.url);
    url.searchParams.set('digest', digest);
    const done = await client.request(url, what, {
      method: 'PUT',
      actions: 'pull,push',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
      accept: (s) => s === 201,
      ...withSignal,
    });
    done.body.destroy();
  }

  const layers: PublishedLayer[] = [];
  let bytesUploaded = 0;
  const emptyDigest = `sha256:${createHash('sha256').update(EMPTY).digest('hex')}`;
  if (!(await has(emptyDigest))) await upload(emptyDigest, EMPTY.length, EMPTY, `${where} config`);
  for (const f of files) {
    const what = `${where} layer ${f.title}`;
    const present = await has(f.digest);
    if (!present) {
      await upload(f.digest, f.size, () => createReadStream(f.file), what);
      bytesUploaded += f.size;
    }
    const l: PublishedLayer = { title: f.title, digest: f.digest, size: f.size, uploaded: !present, from: f.from };
    layers.push(l);
    opts.onLayer?.(l);
  }

  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    artifactType: SET_ARTIFACT_TYPE,
    config: { mediaType: MEDIA.empty, digest: emptyDigest, size: EMPTY.length },
    layers: files.map((f): Layer => ({ mediaType: 'application/octet-stream', digest: f.digest, size: f.size, annotations: { [TITLE]: f.title } })),
    annotations: { 'org.opencontainers.image.created': new Date().toISOString(), 'io.modelmount.artifacts': opts.artifacts.map((a) => a.id).join(',') },
  };
  const body = Buffer.from(JSON.stringify(manifest));
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const put = await client.request(`${repo}/manifests/${target.ref}`, `${where} manifest`, {
    method: 'PUT',
    actions: 'pull,push',
    headers: { 'content-type': MEDIA.ociManifest, 'content-length': String(body.length) },
    body,
    accept: (s) => s === 201,
    ...withSignal,
  });
  const said = header(put.headers, 'docker-content-digest');
  await readText(put.body).catch(() => '');
  if (said && said !== digest) {
    throw new SourceError('EDIGEST', `the registry stored the manifest as ${said}, not ${digest} (${where})`, { retryable: false });
  }
  return { reference: where, digest, pinned: formatReference(target, digest), artifacts: opts.artifacts.map((a) => a.id), layers, bytesUploaded };
}
