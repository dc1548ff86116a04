/**
 * Source URLs: which kind of source a `url:` is (http, s3, oci, file) and its normalised base,
 * or what is wrong with it and the fix; and the checks on an s3 `endpoint:`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactUrl } from '../redact.ts';
import type { SourceKind } from './schema.ts';

type UrlClass = { kind: SourceKind; base: string } | { error: string; fix: string };

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether a URL's host (its port ignored) is this machine. */
export function isLoopbackUrl(u: URL): boolean {
  return LOOPBACK_HOSTS.has(u.host.replace(/:\d+$/, ''));
}

/** Classify a source url: http(s) base URL (with trailing "/"), file:// URL, or plain folder path. */
export function classifySourceUrl(url: string, dir: string): UrlClass {
  const example = 'e.g. `url: https://models.example.com/ml/`, `url: file:///mnt/models/` or `url: ../models`';
  if (url.trim() !== url) return { error: 'the url has leading or trailing spaces', fix: 'remove the spaces around the url' };
  if (/^https?:\/\//i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return { error: `"${redactUrl(url)}" is not a valid URL`, fix: `write a complete base URL, ${example}` };
    }
    if (u.username || u.password) {
      return {
        error: 'the url contains a user name or password',
        fix: 'remove the credentials from the url and name an environment variable holding the token with `tokenEnv: MODELS_TOKEN`',
      };
    }
    if (u.search || u.hash) {
      return {
        error: 'the url has a ?query or #fragment; file paths are appended to the base URL',
        fix: 'use a plain base folder URL ending in "/", e.g. https://models.example.com/ml/',
      };
    }
    const base = u.href.endsWith('/') ? u.href : `${u.href}/`;
    return { kind: 'http', base };
  }
  if (/^s3:\/\//i.test(url)) return classifyS3Url(url);
  if (/^oci:\/\//i.test(url)) return classifyOciUrl(url);
  if (/^file:/i.test(url)) {
    try {
      const p = fileURLToPath(new URL(url));
      return { kind: 'file', base: path.resolve(p) };
    } catch (err) {
      return {
        error: `"${url}" is not a usable file:// URL (${(err as Error).message})`,
        fix: 'file:// URLs must be absolute, e.g. file:///mnt/models/; for a folder next to the manifest write a plain path like ../models',
      };
    }
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  if (scheme) {
    return {
      error: `unsupported url scheme "${scheme[1]}://"`,
      fix: `use an http(s):// URL, an s3://bucket/prefix/ URL, a file:// URL or a mounted folder path; ${example}`,
    };
  }
  if (/^[A-Za-z]:[\\/]/.test(url) || url.includes('\\')) {
    return { error: 'the url looks like a Windows path', fix: 'use a POSIX folder path with "/" separators, or a file:// URL' };
  }
  if (/^[A-Za-z0-9.-]+:\//.test(url)) {
    return {
      error: `"${url}" looks like a remote host:path, which modelmount cannot read`,
      fix: 'mount the share on this host and give its local folder (e.g. file:///mnt/models/), or serve it over https',
    };
  }
  return { kind: 'file', base: path.resolve(dir, url) };
}

/** S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens (Ceph also allows "_"). */
const BUCKET_RE = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

/** `s3://bucket/prefix/` → base `s3://bucket/prefix/` (the prefix, possibly empty, ends in "/"). */
function classifyS3Url(url: string): UrlClass {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?([?#].*)?$/i.exec(url);
  const bucket = m?.[1] ?? '';
  if (!m || m[3] !== undefined) {
    return { error: 'the s3 url has a ?query or #fragment', fix: 'write s3://bucket/prefix/ (region, endpoint and profile are fields of the source)' };
  }
  if (bucket.includes('@') || bucket.includes(':')) {
    return { error: 'the s3 url contains credentials or a port', fix: 'write s3://bucket/prefix/; credentials come from the AWS chain (environment, profile, role), a custom server goes in `endpoint:`' };
  }
  if (!BUCKET_RE.test(bucket)) {
    return { error: `"${bucket}" is not a valid bucket name`, fix: 'write s3://bucket/prefix/ with a bucket name of 3-63 lowercase letters, digits, "." or "-"' };
  }
  const prefix = (m[2] ?? '/').replace(/^\/+/, '');
  if (prefix.split('/').some((seg, i, all) => (seg === '' && i < all.length - 1) || seg === '.' || seg === '..')) {
    return { error: 'the s3 prefix has an empty, "." or ".." segment', fix: 'write the key prefix plainly, e.g. s3://models/ml/' };
  }
  return { kind: 's3', base: `s3://${bucket}/${prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`}` };
}

/** registry host[:port] / repository path (docker's grammar) [:tag | @sha256:digest] */
const OCI_URL_RE =
  /^oci:\/\/((?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::\d{1,5})?|\[[0-9a-fA-F:]+\](?::\d{1,5})?)\/([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/;

/** `oci://registry/team/models[:tag|@sha256:…]` → base `oci://registry/team/models[:tag|@digest]` (host lowercased). */
export function classifyOciUrl(url: string): UrlClass {
  const m = OCI_URL_RE.exec(url.replace(/^oci:\/\//i, 'oci://'));
  if (!m) {
    return {
      error: `"${redactUrl(url)}" is not an oci://registry/repository reference`,
      fix: 'write e.g. oci://registry.example.com/team/models:v1 or oci://registry.example.com/team/models@sha256:<64 hex> (lowercase repository, no credentials: they come from ~/.docker/config.json)',
    };
  }
  const [, host, repo, tag, digest] = m;
  if (tag !== undefined && digest !== undefined) return { error: 'the oci url has both a :tag and an @digest', fix: 'keep only the @sha256: digest (it pins the content)' };
  return { kind: 'oci', base: `oci://${(host as string).toLowerCase()}/${repo}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}` };
}

/** The checks on an s3 `endpoint:` URL (http only to loopback, unless `insecure: true`). */
export function checkS3Endpoint(endpoint: string, insecure: boolean): { error: string; fix: string } | undefined {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return { error: `"${redactUrl(endpoint)}" is not a URL`, fix: 'write the server URL, e.g. `endpoint: https://s3.example.internal` or `endpoint: http://127.0.0.1:7480`' };
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return { error: `unsupported endpoint scheme "${u.protocol}"`, fix: 'use an https:// (or, on loopback, http://) endpoint URL' };
  if (u.username || u.password || u.search || u.hash) {
    return { error: 'the endpoint has credentials, a ?query or a #fragment', fix: 'give only scheme, host, port (and path); credentials come from the AWS chain' };
  }
  if (u.protocol === 'http:' && !insecure && !isLoopbackUrl(u)) {
    return { error: 'the endpoint is plain http:// on a host that is not loopback', fix: 'use https://, or add `insecure: true` to the source if the network is trusted' };
  }
  return undefined;
}
