/**
 * Read a manifest, validate it completely, resolve it.
 *
 *   text ──yaml Document (with ranges)──▶ syntax problems
 *        ──zod schema──────────────────▶ shape problems      ┐ all collected,
 *        ──semantic checks on raw data─▶ meaning problems    ┘ thrown together
 *        ──resolve──────────────────────▶ Manifest (absolute paths, digest)
 *
 * Every problem carries file:line:column, a dotted `where`, a message and a
 * concrete fix, and all of them are reported at once in one ManifestError.
 * Relative paths resolve against the manifest's own folder, never the cwd;
 * `~` is not expanded (it is an ordinary folder name).
 *
 * Speed: the yaml Document (kept for its node ranges) costs ~1.5 µs per byte and a lot of
 * garbage: 20,000 artifacts took seconds. A manifest that is valid is first read by js-yaml
 * (~10x faster) with the YAML 1.2 core scalars the Document path uses; any problem there, or
 * anything the two could read differently (a %directive, anchors and aliases), goes the Document
 * path, which alone reports problems (with positions). Over MAX_MANIFEST_BYTES: refused.
 */
import { createHash } from 'node:crypto';
import { redactUrl } from '../redact.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAILSAFE_SCHEMA, load as loadYamlFast, Type as YamlType } from 'js-yaml';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { ManifestError, UsageError, type ManifestProblem } from '../errors.ts';
import { folderProblems } from './folders.ts';
import { NotRegularFileError, readRegularFile } from '../fs-safe.ts';
import { checkSafeRelativePath, findCollisions, foldPath } from './paths.ts';
import {
  artifactSchema,
  composeSchema,
  fileSchema,
  manifestSchema,
  requireSchema,
  smokeSchema,
  sourceSchema,
  type Artifact,
  type ComposeSettings,
  type Manifest,
  type RawManifest,
  type RequireRule,
  type ResolvedSource,
  type SourceKind,
} from './schema.ts';
import { commandFor } from '../invocation.ts';
import { levenshtein } from '../levenshtein.ts';

export interface LoadManifestOptions {
  /** used for MODELS_MANIFEST when `file` is empty; defaults to process.env */
  env?: NodeJS.ProcessEnv;
  /** folder a relative `file` is resolved against; defaults to process.cwd() */
  cwd?: string;
}

/**
 * Read and validate the manifest at `file` (or, when `file` is empty, at
 * `$MODELS_MANIFEST`). Throws UsageError (code ENOMANIFEST) when it cannot be
 * read and ManifestError listing every problem when it is invalid.
 */
export async function loadManifest(file: string, opts: LoadManifestOptions = {}): Promise<Manifest> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const fromEnv = !file && Boolean(env.MODELS_MANIFEST);
  const given = file || env.MODELS_MANIFEST || '';
  if (!given) {
    throw new UsageError('No manifest given.', {
      code: 'ENOMANIFEST',
      hint: 'Pass --manifest <path/to/models.yaml>, or set MODELS_MANIFEST to its path.',
    });
  }
  const abs = path.resolve(cwd, given);
  const origin = fromEnv ? ` (from MODELS_MANIFEST=${given})` : '';
  let text: string;
  try {
    // never blocks: a FIFO, socket or device is refused at once (fstat of a non-blocking open)
    text = await readRegularFile(abs, (st) => {
      if (st.size > MAX_MANIFEST_BYTES) throw tooLarge(abs, st.size);
    });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof NotRegularFileError && err.kind !== 'a folder') {
      throw new UsageError(`The manifest ${abs}${origin} is not a regular file (${err.kind}); modelmount will not read it.`, {
        code: 'ENOMANIFEST',
        hint: `Point --manifest (or MODELS_MANIFEST) at the YAML file itself; to feed a generated manifest, write it to a file first.`,
        data: { path: abs, kind: err.kind },
      });
    }
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new UsageError(`Manifest not found: ${abs}${origin}`, {
        code: 'ENOMANIFEST',
        cause: err,
        hint: `Pass --manifest <path/to/models.yaml> or set MODELS_MANIFEST; a relative path is resolved from the current folder (${cwd}).`,
        data: { path: abs },
      });
    }
    if (code === 'EISDIR' || err instanceof NotRegularFileError) {
      throw new UsageError(`The manifest path is a folder, not a file: ${abs}${origin}`, {
        code: 'ENOMANIFEST',
        cause: err,
        hint: `Point --manifest (or MODELS_MANIFEST) at the YAML file itself, e.g. ${path.join(abs, 'models.yaml')}.`,
        data: { path: abs },
      });
    }
    throw new UsageError(`Cannot read the manifest ${abs}${origin}: ${(err as Error).message}`, {
      code: 'ENOMANIFEST',
      cause: err,
      hint: 'Make the file readable for this user, or pass another one with --manifest / MODELS_MANIFEST.',
      data: { path: abs },
    });
  }
  return parseManifest(text, abs);
}

/** A manifest larger than this is refused: a real one with 20,000 artifacts is ~4 MB. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

function tooLarge(file: string, bytes: number): UsageError {
  const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MiB`;
  return new UsageError(`The manifest ${file} is ${mib(bytes)}, larger than the ${mib(MAX_MANIFEST_BYTES)} limit.`, {
    code: 'EMANIFESTSIZE',
    hint: 'Is this the right file? A manifest lists artifacts and their files (a few hundred bytes each); split a very large one into several manifests.',
    data: { path: file, bytes, limit: MAX_MANIFEST_BYTES },
  });
}

/**
 * Pure: validate manifest `text` and resolve it as if it were stored at `file`
 * (relative paths in it resolve against `path.dirname(path.resolve(file))`).
 * Throws ManifestError when the manifest is invalid, UsageError (EMANIFESTSIZE) when too large.
 */
export function parseManifest(text: string, file: string): Manifest {
  // text.length counts UTF-16 units: at most the UTF-8 size, and at least a third of it
  if (text.length > MAX_MANIFEST_BYTES || (text.length * 3 > MAX_MANIFEST_BYTES && Buffer.byteLength(text) > MAX_MANIFEST_BYTES)) {
    throw tooLarge(path.resolve(file), Buffer.byteLength(text));
  }
  return parseManifestFast(text, file) ?? parseManifestDocument(text, file);
}

// YAML 1.2 core schema scalars, exactly as the yaml package's Document path resolves them
// (js-yaml's own CORE_SCHEMA also takes YAML 1.1 forms such as 1_000 and 0b101).
const core12 = FAILSAFE_SCHEMA.extend({
  implicit: [
    new YamlType('tag:yaml.org,2002:null', { kind: 'scalar', resolve: (s: string) => /^(?:~|[Nn]ull|NULL)?$/.test(s), construct: () => null }),
    new YamlType('tag:yaml.org,2002:bool', {
      kind: 'scalar',
      resolve: (s: string) => /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s),
      construct: (s: string) => s[0] === 't' || s[0] === 'T',
    }),
    new YamlType('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: (s: string) => /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/.test(s),
      construct: (s: string) => (s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10)),
    }),
    new YamlType('tag:yaml.org,2002:float', {
      kind: 'scalar',
      resolve: (s: string) =>
        /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s) ||
        /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s) ||
        /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s),
      construct: (s: string) =>
        s.slice(-3).toLowerCase() === 'nan' ? Number.NaN : s.slice(-3).toLowerCase() === 'inf' ? (s[0] === '-' ? -Infinity : Infinity) : parseFloat(s),
    }),
  ],
});

/** a %directive line, or an anchor (&a) or alias (*a) where a node can start: the Document path's business */
const DOCUMENT_PATH_ONLY = /^%|(?:^|[\s[{,:-])[&*][^\s,\]}]/m;

/** The fast reading of a manifest that is valid; undefined for anything else (the Document path reports it). */
function parseManifestFast(text: string, file: string): Manifest | undefined {
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (DOCUMENT_PATH_ONLY.test(source)) return undefined;
  let raw: unknown;
  try {
    raw = loadYamlFast(source, { schema: core12, json: false });
  } catch {
    return undefined;
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const absFile = path.resolve(file);
  const dir = path.dirname(absFile);
  const report = new Reporter(file, source);
  checkSemantics(report, raw, dir, absFile);
  if (report.problems.length > 0) return undefined;
  return resolveManifest(parsed.data, absFile, dir);
}

/** parseManifest through the yaml Document only: the reference reading, with a position for every problem. */
export function parseManifestDocument(text: string, file: string): Manifest {
  const absFile = path.resolve(file);
  const dir = path.dirname(absFile);
  const lineCounter = new LineCounter();
  // a UTF-8 byte order mark is invisible: drop it so columns on line 1 are right
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const doc = parseDocument(source, {
    lineCounter,
    keepSourceTokens: true,
    prettyErrors: false,
    uniqueKeys: true,
    logLevel: 'error',
  });
  const report: Reporter = new Reporter(file, source, doc, lineCounter);

  // an error at the very end (an unclosed quote or bracket) is reported on the last non-blank line
  const lastContent = source.trimEnd().length;
  const lastLineStart = source.lastIndexOf('\n', Math.max(0, lastContent - 1)) + 1;
  for (const e of [...doc.errors, ...doc.warnings]) {
    const at = e.pos[0] >= lastContent && lastContent > 0 ? lastLineStart : e.pos[0];
    report.atOffset(at, '(yaml)', `YAML: ${e.message}`, yamlFix(e.code));
  }
  if (report.problems.length > 0) report.throw();

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    report.atOffset(0, '(yaml)', `YAML: ${(err as Error).message}`, 'Remove the aliases (*name); write the values out.');
    report.throw();
  }

  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) reportIssue(report, raw, issue as unknown as ZodIssueLike);
  }
  checkSemantics(report, raw, dir, absFile);
  if (report.problems.length > 0 || !parsed.success) report.throw();
  return resolveManifest(parsed.data, absFile, dir);
}

// ───────────────────────────── resolution ─────────────────────────────

function resolveManifest(m: RawManifest, absFile: string, dir: string): Manifest {
  const withRef = m.artifacts.filter((a) => a.ociRef !== undefined);
  const ociRefs = withRef.length ? Object.fromEntries(withRef.map((a) => [a.id, a.ociRef as string])) : undefined;
  const sources: ResolvedSource[] = m.sources.map((s) => {
    const c = classifySourceUrl(s.url, dir);
    if (!('kind' in c)) throw new Error(`internal: unchecked source url ${s.url}`);
    return {
      name: s.name,
      kind: c.kind,
      base: c.base,
      ...(s.tokenEnv === undefined ? {} : { tokenEnv: s.tokenEnv }),
      ...(s.region === undefined ? {} : { region: s.region }),
      ...(s.endpoint === undefined ? {} : { endpoint: s.endpoint }),
      ...(s.profile === undefined ? {} : { profile: s.profile }),
      ...(s.insecure === undefined ? {} : { insecure: s.insecure }),
      ...(c.kind === 'oci' && ociRefs ? { ociRefs } : {}),
    };
  });
  let compose: ComposeSettings | undefined;
  if (m.compose) {
    const files = m.compose.files.map((f) => path.resolve(dir, f));
    compose = {
      files,
      services: [...m.compose.services],
      override: path.resolve(dir, m.compose.override),
      containerDir: m.compose.containerDir,
      context: m.compose.context === undefined ? path.dirname(files[0] as string) : path.resolve(dir, m.compose.context),
    };
  }
  const manifest: Manifest = {
    path: absFile,
    dir,
    digest: '',
    version: 1,
    hostDir: path.resolve(dir, m.hostDir),
    ...(m.cacheDir === undefined ? {} : { cacheDir: path.resolve(dir, m.cacheDir) }),
    ...(m.jobs === undefined ? {} : { jobs: m.jobs }),
    ...(m.keepReleases === undefined ? {} : { keepReleases: m.keepReleases }),
    sources,
    require: m.require,
    artifacts: m.artifacts,
    ...(compose ? { compose } : {}),
    ...(m.smoke ? { smoke: m.smoke } : {}),
  };
  manifest.digest = manifestDigest(manifest);
  return manifest;
}

type UrlClass = { kind: SourceKind; base: string } | { error: string; fix: string };

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

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
function classifyOciUrl(url: string): UrlClass {
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
  if (u.protocol === 'http:' && !insecure && !LOOPBACK_HOSTS.has(u.host.replace(/:\d+$/, ''))) {
    return { error: 'the endpoint is plain http:// on a host that is not loopback', fix: 'use https://, or add `insecure: true` to the source if the network is trusted' };
  }
  return undefined;
}

// ───────────────────────────── digest ─────────────────────────────

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON with object keys sorted (code-unit order), no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort(cmp);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

function canonicalArtifact(a: Artifact): Record<string, unknown> {
  return {
    id: a.id,
    files: [...a.files].sort((x, y) => cmp(x.path, y.path)).map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    labels: a.labels,
    optional: a.optional,
    env: a.env ?? null,
  };
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * sha256 of what the manifest means for an install: version, artifacts (sorted
 * by id; files sorted by path with size and sha256; labels; optional; env),
 * require rules, compose services and containerDir. Comments, descriptions,
 * key order, source URLs, hostDir and cacheDir do not change it.
 */
export function manifestDigest(m: Pick<Manifest, 'version' | 'artifacts' | 'require' | 'compose'>): string {
  const content = {
    format: 'modelmount-manifest/1',
    version: m.version,
    artifacts: [...m.artifacts].sort((a, b) => cmp(a.id, b.id)).map(canonicalArtifact),
    require: m.require
      .map((r: RequireRule) => ({ anyOf: [...new Set(r.anyOf)].sort(cmp) }))
      .sort((a, b) => cmp(canonicalJson(a), canonicalJson(b))),
    compose: m.compose ? { services: [...m.compose.services].sort(cmp), containerDir: m.compose.containerDir } : null,
  };
  return sha256Hex(canonicalJson(content));
}

/**
 * sha256 of the bytes a selection installs: artifact ids, file paths, sizes and
 * sha256s, independent of input order. Labels, env names and descriptions do
 * not change it, so a CI cache keyed by it (`models:warm --key`) is only
 * invalidated when the files themselves change.
 */
export function selectionDigest(artifacts: readonly Artifact[]): string {
  const content = {
    format: 'modelmount-selection/1',
    artifacts: [...artifacts]
      .sort((a, b) => cmp(a.id, b.id))
      .map((a) => ({
        id: a.id,
        files: [...a.files].sort((x, y) => cmp(x.path, y.path)).map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
      })),
  };
  return sha256Hex(canonicalJson(content));
}

// ───────────────────────────── problem reporting ─────────────────────────────

type Seg = string | number;

class Reporter {
  readonly problems: ManifestProblem[] = [];
  private readonly seen = new Set<string>();

  /** Without `doc` and `lines` (the fast path), problems are only counted: positions are 0. */
  constructor(
    private readonly file: string,
    private readonly text: string,
    private readonly doc?: Document.Parsed,
    private readonly lines?: LineCounter,
  ) {}

  atOffset(offset: number, where: string, message: string, fix: string): void {
    const pos = this.lines?.linePos(Math.max(0, offset)) ?? { line: 0, col: 0 };
    this.push({ file: this.file, line: pos.line, column: pos.col, where, message, fix });
  }

  /** Report at the node for `segs`; `onKey` points at the key (for unknown/duplicate keys). */
  at(segs: readonly Seg[], message: string, fix: string, onKey = false): void {
    this.atOffset(this.offsetOf(segs, onKey), formatWhere(segs), message, fix);
  }

  /** 1-based line of the node at `segs` (for "also at line N" messages). */
  lineOf(segs: readonly Seg[]): number {
    return this.lines?.linePos(this.offsetOf(segs, false)).line ?? 0;
  }

  /** Source text of the scalar at `segs`, when it exists. */
  sourceOf(segs: readonly Seg[]): string | undefined {
    const n = this.nodeOf(segs);
    if (isScalar(n) && n.range) return this.text.slice(n.range[0], n.range[1]);
    return undefined;
  }

  throw(): never {
    const sorted = [...this.problems].sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ManifestError(sorted);
  }

  private push(p: ManifestProblem): void {
    const key = `${p.line}:${p.column}:${p.where}:${p.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.problems.push(p);
  }

  private nodeOf(segs: readonly Seg[]): unknown {
    if (!this.doc) return undefined;
    let node: unknown = this.doc.contents;
    for (const seg of segs) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return undefined;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else {
        return undefined;
      }
    }
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  private offsetOf(segs: readonly Seg[], onKey: boolean): number {
    if (!this.doc) return 0;
    let node: unknown = this.doc.contents;
    let best = rangeStart(node) ?? 0;
    for (const [i, seg] of segs.entries()) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return best;
        const keyStart = rangeStart(pair.key) ?? best;
        const last = i === segs.length - 1;
        if (last && onKey) return keyStart;
        node = pair.value;
        // an empty value (`sha256:`) has its range after the colon: point at the key instead
        const vStart = isScalar(node) && node.value === null ? undefined : rangeStart(node);
        best = vStart ?? keyStart;
        if (vStart === undefined) return best;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined || item === null) return best;
        node = item;
        best = rangeStart(node) ?? best;
      } else {
        return best;
      }
    }
    return best;
  }
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as { range?: [number, number, number] | null } | null | undefined)?.range;
  return r ? r[0] : undefined;
}

/** `artifacts[0].files[2].sha256`; keys that are not identifiers are quoted: `labels["my key"]`. */
export function formatWhere(segs: readonly Seg[]): string {
  if (segs.length === 0) return '(top level)';
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function yamlFix(code: string): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'Remove one of the two keys with the same name (YAML keeps only one).';
    case 'TAB_AS_INDENT':
      return 'Indent with spaces, not tabs.';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return 'Check the indentation and closing brackets/quotes on this line and the one before it.';
    case 'MULTIPLE_DOCS':
      return 'Keep a single YAML document: remove the `---` separator and whatever follows it.';
    case 'MULTILINE_IMPLICIT_KEY':
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'Put `key: value` on one line; quote values that contain ": " or " #".';
    case 'TAG_RESOLVE_FAILED':
    case 'BAD_COLLECTION_TYPE':
      return 'Remove the `!tag`; manifests use plain YAML values.';
    default:
      return 'Fix the YAML syntax at this position; quote values that contain ": ", " #", or start with "*", "&", "!", "@" or "`".';
  }
}

// ───────────────────────────── zod issues → problems ─────────────────────────────

interface ZodIssueLike {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  expected?: string;
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  values?: unknown[];
}

interface FieldHelp {
  /** what a valid value is, completing "must be …" */
  expect: string;
  fix: string;
}

/** Field help keyed by the path with array indexes replaced by `[]`. */
const FIELDS: Record<string, FieldHelp> = {
  '': {
    expect: 'a map with version, hostDir, sources and artifacts',
    fix: 'Start from manifests/models.yaml in the modelmount repository and edit it.',
  },
  version: { expect: '1', fix: 'Set `version: 1` (the only manifest format this modelmount reads).' },
  hostDir: {
    expect: 'the folder (relative to this manifest) where artifacts are placed for containers to mount',
    fix: 'Set it, e.g. `hostDir: ../learning_machine/artifacts`.',
  },
  cacheDir: {
    expect: 'a folder path (relative to this manifest) for the download store',
    fix: 'Give a folder path, or remove cacheDir to use the default per-user cache.',
  },
  jobs: { expect: 'a whole number from 1 to 64', fix: 'Set e.g. `jobs: 4`, or remove it to use the default.' },
  keepReleases: { expect: 'a whole number from 1 to 100', fix: 'Set e.g. `keepReleases: 3` (release sets kept for rollback), or remove it for the default 3.' },
  sources: {
    expect: 'a list of at least one source',
    fix: 'Add e.g. `sources: [{ name: mirror, url: "https://models.example.com/ml/" }]`.',
  },
  'sources[]': { expect: 'a map with name, url and optionally tokenEnv', fix: 'Write `- name: mirror` and `url: https://…` on the next line.' },
  'sources[].name': {
    expect: 'a short name of letters, digits, "-", "_" or "." (starting with a letter or digit)',
    fix: 'Use a name like `mirror` or `nfs`.',
  },
  'sources[].url': {
    expect: 'an http(s):// base URL, an s3://bucket/prefix/ URL, a file:// URL or a folder path relative to this manifest',
    fix: 'Use e.g. `url: https://models.example.com/ml/`, `url: s3://models/ml/`, `url: file:///mnt/models/` or `url: ../models`.',
  },
  'artifacts[].ociRef': {
    expect: 'a tag or a sha256:<64 hex> digest in the oci source repository',
    fix: 'Use e.g. `ociRef: v0_ja` or `ociRef: sha256:…` (what `modelmount publish` printed), or remove it.',
  },
  'sources[].region': { expect: 'an AWS region name', fix: 'Use e.g. `region: eu-west-1`, or remove it.' },
  'sources[].endpoint': {
    expect: 'the URL of an S3-compatible server',
    fix: 'Use e.g. `endpoint: https://minio.example.internal:9000`, or remove it for AWS S3.',
  },
  'sources[].profile': { expect: 'a profile name from ~/.aws/config', fix: 'Use e.g. `profile: models-readonly`, or remove it.' },
  'sources[].insecure': { expect: 'true or false', fix: 'Write `insecure: true` (plain http to a non-loopback host), or remove it.' },
  'sources[].tokenEnv': {
    expect: 'the name of the environment variable that holds the access token',
    fix: 'Use e.g. `tokenEnv: MODELS_TOKEN` (never put the token itself in the manifest).',
  },
  require: {
    expect: 'a list of rules like `- anyOf: [student/v0_ja, student/v0_en]`',
    fix: 'Write `require:` followed by `  - anyOf: [id, id]`, or remove it.',
  },
  'require[]': { expect: 'a map with anyOf', fix: 'Write `- anyOf: [student/v0_ja, student/v0_en]`.' },
  'require[].anyOf': {
    expect: 'a non-empty list of artifact ids',
    fix: 'List the artifact ids of which at least one must be installed, e.g. `anyOf: [student/v0_ja, student/v0_en]`.',
  },
  'require[].anyOf[]': { expect: 'an artifact id', fix: 'Write an artifact id from this manifest, e.g. student/v0_ja.' },
  artifacts: {
    expect: 'a list of at least one artifact',
    get fix() {
      return `Add an artifact with id and files (\`${commandFor('manifest add')}\` writes the entries for you).`;
    },
  },
  'artifacts[]': { expect: 'a map with id and files', fix: 'Write `- id: student/v0_ja` followed by `files:`.' },
  'artifacts[].id': {
    expect: 'a relative folder path like student/v0_ja',
    fix: 'Set e.g. `id: student/v0_ja`.',
  },
  'artifacts[].description': { expect: 'text', fix: 'Quote the description, e.g. `description: "Japanese student model"`.' },
  'artifacts[].labels': {
    expect: 'a map of label names to values, e.g. { role: student, lang: ja }',
    fix: 'Write labels as `labels: { role: student, lang: ja }`, or remove them.',
  },
  'artifacts[].labels.*': {
    expect: 'a label of letters, digits, "-", "_" or "." (starting with a letter or digit)',
    fix: 'Use short flag-friendly labels like `lang: ja`; they are matched by --labels lang=ja.',
  },
  'artifacts[].optional': { expect: 'true or false', fix: 'Write `optional: true` or `optional: false` (or remove it; the default is false).' },
  'artifacts[].env': {
    expect: 'an environment variable name (letters, digits and "_", not starting with a digit)',
    fix: 'Use e.g. `env: LEARNING_MACHINE_STUDENT_JA_DIR`.',
  },
  'artifacts[].files': {
    expect: 'a non-empty list of files with path, size and sha256',
    get fix() {
      return `List the files (\`${commandFor('manifest add')}\` writes the entries for you).`;
    },
  },
  'artifacts[].files[]': { expect: 'a map with path, size and sha256', fix: 'Write `- path: model.safetensors` followed by size and sha256.' },
  'artifacts[].files[].path': {
    expect: "the file's path inside the artifact folder",
    fix: 'Use e.g. `path: model.safetensors` or `path: tokenizer/vocab.json`.',
  },
  'artifacts[].files[].size': {
    expect: 'the file size in bytes, a whole number >= 0',
    fix: 'Use the output of `stat -c %s <file>`.',
  },
  'artifacts[].files[].sha256': {
    expect: '64 lowercase hex characters',
    fix: 'Replace it with the 64-character output of `sha256sum <file>`.',
  },
  compose: {
    expect: 'a map with files, services, override and containerDir',
    fix: 'See manifests/models.yaml for a complete compose section, or remove it.',
  },
  'compose.files': {
    expect: 'a non-empty list of compose files, relative to this manifest',
    fix: 'Use e.g. `files: [../compose.yaml]`.',
  },
  'compose.files[]': { expect: 'a compose file path', fix: 'Use e.g. `../compose.yaml`.' },
  'compose.services': {
    expect: 'a non-empty list of the services that load the models',
    fix: 'Use e.g. `services: [ml-worker]`.',
  },
  'compose.services[]': { expect: 'a service name', fix: 'Use a service name from your compose file, e.g. ml-worker.' },
  'compose.override': {
    expect: 'the path of the compose override file modelmount writes, relative to this manifest',
    fix: 'Use e.g. `override: ../compose.models.yaml`.',
  },
  'compose.containerDir': {
    expect: 'an absolute folder inside the container, without a trailing "/"',
    fix: 'Use the folder your app reads models from, e.g. `containerDir: /app/learning_machine/artifacts`.',
  },
  'compose.context': {
    expect: 'the docker build context folder, relative to this manifest',
    fix: "Use e.g. `context: ..`, or remove it to use the first compose file's folder.",
  },
  smoke: { expect: 'a map with command and timeoutSeconds', fix: 'Write e.g. `smoke: { command: [python, -m, app.check_models] }`, or remove it.' },
  'smoke.command': {
    expect: 'a non-empty list: program and arguments',
    fix: 'Use e.g. `command: [python, -m, app.check_models]`.',
  },
  'smoke.command[]': { expect: 'text', fix: 'Quote the argument, e.g. "1".' },
  'smoke.timeoutSeconds': { expect: 'a whole number of seconds greater than 0', fix: 'Use e.g. `timeoutSeconds: 300`.' },
};

/** Allowed keys of each strict object, straight from the schema. */
const OBJECT_KEYS: Record<string, string[]> = {
  '': Object.keys(manifestSchema.shape),
  'sources[]': Object.keys(sourceSchema.shape),
  'require[]': Object.keys(requireSchema.shape),
  'artifacts[]': Object.keys(artifactSchema.shape),
  'artifacts[].files[]': Object.keys(fileSchema.shape),
  compose: Object.keys(composeSchema.shape),
  smoke: Object.keys(smokeSchema.shape),
};

function patternOf(segs: readonly Seg[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += '[]';
    else if (out === 'artifacts[].labels') out += '.*';
    else out += out ? `.${s}` : s;
  }
  return out;
}

function valueAt(raw: unknown, segs: readonly Seg[]): unknown {
  let v = raw;
  for (const s of segs) {
    if (v === null || typeof v !== 'object') return undefined;
    if (!Object.hasOwn(v, s)) return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return v.length > 70 ? `${JSON.stringify(v.slice(0, 67))}…` : JSON.stringify(v);
  return String(v);
}

function nameOf(segs: readonly Seg[]): string {
  for (let i = segs.length - 1; i >= 0; i--) {
    const s = segs[i];
    if (typeof s === 'string') return i === segs.length - 1 ? s : `${s} item`;
  }
  return 'the manifest';
}

function reportIssue(report: Reporter, raw: unknown, issue: ZodIssueLike): void {
  const segs = issue.path.filter((s): s is Seg => typeof s === 'string' || typeof s === 'number');
  const pattern = patternOf(segs);

  if (issue.code === 'unrecognized_keys') {
    const allowed = OBJECT_KEYS[pattern] ?? [];
    for (const key of issue.keys ?? []) {
      const guess = closest(key, allowed);
      const merge = key === '<<' ? ' YAML merge keys (<<) are not supported: write the keys out.' : '';
      report.at(
        [...segs, key],
        `unknown key "${key}"${pattern ? ` in ${formatWhere(segs)}` : ''}`,
        `${guess ? `Did you mean "${guess}"? ` : ''}Remove it or use one of the allowed keys: ${allowed.join(', ')}.${merge}`,
        true,
      );
    }
    return;
  }

  const help = FIELDS[pattern] ?? { expect: 'a valid value', fix: 'Check this value against manifests/models.yaml.' };
  const value = valueAt(raw, segs);
  const name = nameOf(segs);
  let message: string;
  let fix = help.fix;

  if (issue.code === 'invalid_key') {
    const key = segs[segs.length - 1];
    report.at(segs, `label name ${show(key)} is not allowed; it must be ${help.expect}`, help.fix, true);
    return;
  }
  if (segs.length === 0) {
    message = value === null || value === undefined ? 'the manifest is empty' : `the manifest must be ${help.expect}, not ${show(value)}`;
  } else if (value === undefined) {
    message = `"${name}" is missing; it must be ${help.expect}`;
  } else if (issue.code === 'invalid_type' && value === null && issue.expected !== 'array' && issue.expected !== 'object') {
    message = `"${name}" is empty; it must be ${help.expect}`;
  } else if (issue.code === 'too_small' && issue.origin === 'array') {
    message = `"${name}" is an empty list; it must be ${help.expect}`;
  } else if (issue.code === 'too_small' && issue.origin === 'string') {
    message = `"${name}" is empty; it must be ${help.expect}`;
  } else {
    message = `"${name}" must be ${help.expect}, not ${show(value)}`;
  }

  // a value that YAML read as a number/boolean where text is expected: quote it
  if (issue.code === 'invalid_type' && issue.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
    const src = report.sourceOf(segs) ?? String(value);
    message = `"${name}" must be ${help.expect}; YAML read ${src.length > 70 ? `${src.slice(0, 67)}…` : src} as a ${typeof value}`;
    fix = `Put the value in quotes so YAML reads it as text: "${src}".`;
  }
  // a number written in quotes where a number is expected
  if (issue.code === 'invalid_type' && issue.expected === 'number' && typeof value === 'string' && /^\s*\d+\s*$/.test(value)) {
    fix = `Remove the quotes: write ${name}: ${value.trim()}`;
  }
  if (pattern === 'artifacts[].files[].sha256' && typeof value === 'string') {
    const filePath = valueAt(raw, [...segs.slice(0, -1), 'path']);
    const shown = typeof filePath === 'string' ? filePath : '<file>';
    if (/^sha256[:-]/i.test(value)) fix = `Drop the "${value.slice(0, 7)}" prefix: write only the 64 hex characters.`;
    else if (/^[0-9A-Fa-f]{64}$/.test(value)) fix = `Write it in lowercase: ${value.toLowerCase()}`;
    else {
      message = `"sha256" must be ${help.expect}, not ${show(value)} (${value.length} characters)`;
      fix = `Replace it with the 64-character output of \`sha256sum ${shown}\`.`;
    }
  } else if (pattern === 'artifacts[].files[].sha256') {
    const filePath = valueAt(raw, [...segs.slice(0, -1), 'path']);
    if (typeof filePath === 'string' && fix === help.fix) fix = `Replace it with the 64-character output of \`sha256sum ${filePath}\`.`;
  }
  if (pattern === 'artifacts[].files[].size' && fix === help.fix) {
    const filePath = valueAt(raw, [...segs.slice(0, -1), 'path']);
    if (typeof filePath === 'string') fix = `Use the output of \`stat -c %s ${filePath}\`.`;
  }
  if (pattern === 'version' && typeof value === 'number' && value > 1) {
    fix = `This modelmount reads manifest version 1 only: upgrade modelmount, or write the manifest in format 1 (\`version: 1\`).`;
  }
  report.at(segs, message, fix);
}

/** The candidate closest to `s` when it is plausibly a typo of it. */
export function closest(s: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === s.toLowerCase() ? 0 : levenshtein(s.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.min(3, Math.floor(s.length / 3))) ? best : undefined;
}

// ───────────────────────────── semantic checks ─────────────────────────────

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function stringAt(o: Record<string, unknown> | undefined, key: string): string | undefined {
  if (!o || !Object.hasOwn(o, key)) return undefined;
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

function envNameFor(id: string): string {
  return `${id.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '')}_DIR`;
}

/**
 * Checks that need more than one field. They run on the raw YAML data even when
 * the schema failed, skipping anything malformed (the schema reports that), so
 * that every problem is reported in one go.
 */
function checkSemantics(report: Reporter, raw: unknown, dir: string, absFile: string): void {
  const root = asObject(raw);
  if (!root) return;

  // ── artifacts: ids
  const artifacts = asArray(root.artifacts).map(asObject);
  const ids: { id: string; i: number }[] = [];
  for (const [i, a] of artifacts.entries()) {
    const id = stringAt(a, 'id');
    if (id === undefined) continue;
    ids.push({ id, i });
    const reason = checkSafeRelativePath(id);
    if (reason) {
      report.at(
        ['artifacts', i, 'id'],
        `artifact id ${show(id)} is not a safe relative path: it ${reason}`,
        'Use folder names joined by "/", like student/v0_ja (letters, digits, ".", "-", "_"); the id becomes the folder <hostDir>/<id>.',
      );
    } else if (foldPath(id.split('/')[0] as string).startsWith('.modelmount')) {
      report.at(
        ['artifacts', i, 'id'],
        `artifact id ${show(id)} uses the name ".modelmount", which modelmount keeps for its own records in hostDir`,
        'Rename the artifact, e.g. without the leading ".modelmount".',
      );
    }
  }
  for (const c of findCollisions(ids.map((x) => x.id))) {
    const [first, ...rest] = c.indexes.map((k) => ids[k] as { id: string; i: number });
    if (!first) continue;
    const firstLine = report.lineOf(['artifacts', first.i, 'id']);
    if (c.kind === 'prefix') {
      const [parent, child] = [first, rest[0]];
      if (!child) continue;
      const later = parent.i > child.i ? parent : child;
      const other = later === parent ? child : parent;
      report.at(
        ['artifacts', later.i, 'id'],
        `artifact id "${parent.id}" is a parent folder of "${child.id}" (line ${report.lineOf(['artifacts', other.i, 'id'])}): their folders and mounts would nest`,
        `Rename one so neither is inside the other, e.g. "${parent.id}/base" and "${child.id}".`,
      );
      continue;
    }
    for (const x of rest) {
      report.at(
        ['artifacts', x.i, 'id'],
        c.kind === 'same'
          ? `duplicate artifact id "${x.id}" (also at line ${firstLine})`
          : `artifact id "${x.id}" and "${first.id}" (line ${firstLine}) are the same folder on case-insensitive file systems (macOS, Windows)`,
        c.kind === 'same' ? 'Give every artifact a different id, or merge the two entries.' : 'Rename one so they differ by more than letter case or Unicode normalisation.',
      );
    }
  }

  // ── artifacts: file paths, env names
  const envSeen = new Map<string, number>();
  for (const [i, a] of artifacts.entries()) {
    const files = asArray(a?.files).map(asObject);
    const paths: { p: string; j: number }[] = [];
    for (const [j, f] of files.entries()) {
      const p = stringAt(f, 'path');
      if (p === undefined) continue;
      paths.push({ p, j });
      const reason = checkSafeRelativePath(p);
      if (reason) {
        report.at(
          ['artifacts', i, 'files', j, 'path'],
          `file path ${show(p)} is not a safe relative path: it ${reason}`,
          'Use a path inside the artifact folder, like model.safetensors or tokenizer/vocab.json.',
        );
      }
    }
    for (const c of findCollisions(paths.map((x) => x.p))) {
      const members = c.indexes.map((k) => paths[k] as { p: string; j: number });
      const [first, ...rest] = members;
      if (!first) continue;
      const firstLine = report.lineOf(['artifacts', i, 'files', first.j, 'path']);
      if (c.kind === 'prefix') {
        const child = rest[0];
        if (!child) continue;
        const later = first.j > child.j ? first : child;
        const other = later === first ? child : first;
        report.at(
          ['artifacts', i, 'files', later.j, 'path'],
          `"${first.p}" is listed as a file but is also the folder of "${child.p}" (line ${report.lineOf(['artifacts', i, 'files', other.j, 'path'])})`,
          'A path cannot be both a file and a folder: rename or remove one of them.',
        );
        continue;
      }
      for (const x of rest) {
        report.at(
          ['artifacts', i, 'files', x.j, 'path'],
          c.kind === 'same'
            ? `file "${x.p}" is listed twice in this artifact (also at line ${firstLine})`
            : `file "${x.p}" and "${first.p}" (line ${firstLine}) are the same file on case-insensitive file systems (macOS, Windows)`,
          c.kind === 'same' ? 'Remove the duplicate entry.' : 'Rename one so they differ by more than letter case or Unicode normalisation.',
        );
      }
    }
    const env = stringAt(a, 'env');
    if (env !== undefined) {
      const prev = envSeen.get(env);
      if (prev === undefined) envSeen.set(env, i);
      else {
        const id = stringAt(a, 'id');
        report.at(
          ['artifacts', i, 'env'],
          `env ${show(env)} is already used by artifacts[${prev}] (line ${report.lineOf(['artifacts', prev, 'env'])}); the container would get only one of the two folders`,
          `Give each artifact its own variable${id ? `, e.g. env: ${envNameFor(id)}` : ''}.`,
        );
      }
    }
  }

  // ── require: unknown ids
  const idList = [...new Set(ids.map((x) => x.id))];
  const idSet = new Set(idList);
  for (const [r, rule] of asArray(root.require).map(asObject).entries()) {
    for (const [k, v] of asArray(rule?.anyOf).entries()) {
      if (typeof v !== 'string' || idSet.has(v)) continue;
      const guess = closest(v, idList);
      report.at(
        ['require', r, 'anyOf', k],
        `unknown artifact id ${show(v)} in a require rule`,
        `${guess ? `Did you mean "${guess}"? ` : ''}Use ids of artifacts in this manifest: ${idList.join(', ') || '(none yet)'}.`,
      );
    }
  }

  // ── sources
  const sourceSeen = new Map<string, number>();
  for (const [j, s] of asArray(root.sources).map(asObject).entries()) {
    const name = stringAt(s, 'name');
    if (name !== undefined) {
      const prev = sourceSeen.get(name);
      if (prev === undefined) sourceSeen.set(name, j);
      else {
        report.at(
          ['sources', j, 'name'],
          `duplicate source name ${show(name)} (also at line ${report.lineOf(['sources', prev, 'name'])})`,
          'Give every source a different name (it is what --source picks).',
        );
      }
    }
    const url = stringAt(s, 'url');
    if (url === undefined || url === '') continue;
    const c = classifySourceUrl(url, dir);
    if ('error' in c) {
      report.at(['sources', j, 'url'], `source url: ${c.error}`, `${c.fix[0]?.toUpperCase()}${c.fix.slice(1)}.`);
      continue;
    }
    for (const key of ['region', 'endpoint', 'profile'] as const) {
      if (s?.[key] !== undefined && c.kind !== 's3') {
        report.at(['sources', j, key], `${key} is set on a ${c.kind} source; it only applies to s3:// sources`, `Remove ${key} from this source, or make its url s3://bucket/prefix/.`);
      }
    }
    if (s?.insecure !== undefined && c.kind !== 's3' && c.kind !== 'oci') {
      report.at(['sources', j, 'insecure'], `insecure is set on a ${c.kind} source`, 'Remove insecure: it only applies to an s3 endpoint or an oci registry.');
    }
    const endpoint = stringAt(s, 'endpoint');
    if (c.kind === 's3' && endpoint !== undefined) {
      const bad = checkS3Endpoint(endpoint, s?.insecure === true);
      if (bad) report.at(['sources', j, 'endpoint'], `endpoint: ${bad.error}`, `${bad.fix[0]?.toUpperCase()}${bad.fix.slice(1)}.`);
    }
    if (c.kind === 'oci' && !/[:@][^/]*$/.test(c.base.slice('oci://'.length).replace(/^[^/]*\//, ''))) {
      const unpinned = asArray(root.artifacts)
        .map(asObject)
        .filter((a) => stringAt(a, 'ociRef') === undefined)
        .map((a) => stringAt(a, 'id') ?? '?');
      if (unpinned.length) {
        report.at(
          ['sources', j, 'url'],
          `the oci url names no :tag or @sha256: digest, and ${unpinned.slice(0, 3).join(', ')}${unpinned.length > 3 ? ' …' : ''} ha${unpinned.length === 1 ? 's' : 've'} no ociRef`,
          'Add the tag or digest to the url (oci://registry/repo:v1), or `ociRef: <tag or sha256:…>` to every artifact.',
        );
      }
    }
    const tokenEnv = stringAt(s, 'tokenEnv');
    if (tokenEnv !== undefined && c.kind === 's3') {
      report.at(
        ['sources', j, 'tokenEnv'],
        'tokenEnv is set on an s3 source, which signs requests with AWS credentials instead',
        'Remove tokenEnv; give credentials through the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, `profile:`, or a role).',
      );
    } else if (tokenEnv !== undefined && c.kind === 'oci') {
      report.at(
        ['sources', j, 'tokenEnv'],
        'tokenEnv is set on an oci source, which logs in like Docker does',
        'Remove tokenEnv; log in with `docker login REGISTRY` (or `oras login`): modelmount reads ~/.docker/config.json and its credential helpers.',
      );
    } else if (tokenEnv !== undefined && c.kind === 'file') {
      report.at(
        ['sources', j, 'tokenEnv'],
        'tokenEnv is set on a file source, which never sends a token',
        'Remove tokenEnv from this source (it only applies to http(s) URLs).',
        true,
      );
    } else if (tokenEnv !== undefined && c.kind === 'http' && c.base.startsWith('http:') && !LOOPBACK_HOSTS.has(new URL(c.base).host.replace(/:\d+$/, ''))) {
      report.at(
        ['sources', j, 'url'],
        'tokenEnv is set on a plain http:// URL: the token would cross the network unencrypted',
        'Use https:// for this source, or remove tokenEnv.',
      );
    }
  }

  // ── host folders (the same rules as for --host-dir / --cache-dir: lib/manifest/folders.ts)
  const hostDir = stringAt(root, 'hostDir');
  const cacheDir = stringAt(root, 'cacheDir');
  const projectComposeFiles = asArray(asObject(root.compose)?.files)
    .filter((f): f is string => typeof f === 'string' && f !== '')
    .map((f) => path.resolve(dir, f));
  for (const p of folderProblems({
    hostDir: hostDir ? path.resolve(dir, hostDir) : undefined,
    cacheDir: cacheDir ? path.resolve(dir, cacheDir) : undefined,
    manifestPath: absFile,
    composeFiles: projectComposeFiles,
  })) {
    report.at([p.field], p.message, p.fix);
  }

  // ── compose
  const compose = asObject(root.compose);
  if (compose) {
    const svcSeen = new Map<string, number>();
    for (const [k, svc] of asArray(compose.services).entries()) {
      if (typeof svc !== 'string') continue;
      const prev = svcSeen.get(svc);
      if (prev === undefined) svcSeen.set(svc, k);
      else {
        report.at(
          ['compose', 'services', k],
          `service ${show(svc)} is listed twice (also at line ${report.lineOf(['compose', 'services', prev])})`,
          'Remove the duplicate entry.',
        );
      }
    }
    const composeFiles: string[] = [];
    for (const [k, f] of asArray(compose.files).entries()) {
      if (typeof f !== 'string') continue;
      if (f === '') {
        report.at(['compose', 'files', k], 'compose file path is empty', FIELDS['compose.files[]']?.fix ?? '');
        continue;
      }
      composeFiles.push(path.resolve(dir, f));
    }
    const override = stringAt(compose, 'override');
    if (override) {
      const absOverride = path.resolve(dir, override);
      if (absOverride === absFile || composeFiles.includes(absOverride)) {
        report.at(
          ['compose', 'override'],
          `override ${show(override)} is ${absOverride === absFile ? 'this manifest' : 'one of compose.files'}; modelmount rewrites the override file and would overwrite it`,
          'Point override at a separate file that modelmount owns, e.g. `override: ../compose.models.yaml`.',
        );
      }
    }
    const containerDir = stringAt(compose, 'containerDir');
    if (containerDir?.split('/').some((seg) => seg === '.' || seg === '..')) {
      report.at(
        ['compose', 'containerDir'],
        `containerDir ${show(containerDir)} has a "." or ".." segment`,
        FIELDS['compose.containerDir']?.fix ?? '',
      );
    }
    const context = stringAt(compose, 'context');
    if (context === '') {
      report.at(['compose', 'context'], 'compose.context is empty', FIELDS['compose.context']?.fix ?? '');
    }
  }
}

