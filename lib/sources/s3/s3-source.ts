/**
 * An S3 bucket (AWS, or an S3-compatible server: Ceph radosgw, MinIO, R2 …) as a source, through
 * the AWS SDK v3, imported on the first request only (a run without s3 sources never loads it).
 *
 * - Object key: `<prefix><artifact id>/<file path>` under `s3://bucket/prefix/`.
 * - Credentials: the standard AWS chain (environment, `profile:` / AWS_PROFILE in the shared
 *   config and credentials files, SSO, web identity, container and instance metadata).
 * - Resume: a ranged GET with If-Match on the ETag of the response the partial's bytes came
 *   from; an object that changed since (412) comes back whole, from byte 0.
 * - Bytes are stored raw: an object with `Content-Encoding: gzip` is fetched as it is stored,
 *   never decoded (the SDK does not decompress; the manifest's sha256 covers the stored bytes).
 * - Retries before the body: the SDK's standard strategy (exponential backoff with jitter,
 *   throttling aware), `--retries` + 1 attempts. The body: the same idle and throughput rules as
 *   HTTP (guard-body.ts); failures there are reopened by fetch-blob from the new offset.
 * - Messages name bucket, key and the S3 error code with the fix (s3-errors.ts); they are written
 *   there, never copied from the SDK, and go through redactText with every credential known from the environment.
 */
import type { Readable } from 'node:stream';
import type { GetObjectCommandOutput, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { SourceError, type SourceErrorCode } from '../../errors.ts';
import { importDependency } from '../../import-dependency.ts';
import type { ResolvedSource } from '../../manifest/schema.ts';
import { redactUrl } from '../../redact.ts';
import { guardBody } from '../guard-body.ts';
import { stallBounds } from '../../stall.ts';
import { resolveHttpOptions, type HttpSourceOptions } from '../http/options.ts';
import { createProxyAgents } from '../http/proxy-agent.ts';
import { parseContentRange } from '../http/range.ts';
import type { OpenedRange, OpenRequest, Source } from '../types.ts';
import { createS3Errors, type S3Failure } from './s3-errors.ts';

type Sdk = typeof import('@aws-sdk/client-s3');

let sdkModule: Promise<Sdk> | undefined;
function loadSdk(): Promise<Sdk> {
  sdkModule ??= importDependency('@aws-sdk/client-s3', () => import('@aws-sdk/client-s3'));
  return sdkModule;
}

/** `s3://bucket/prefix/` → bucket and key prefix ("" or ending in "/"). */
function parseS3Base(base: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/i.exec(base);
  if (!m) throw new Error(`internal: not an s3 base ${base}`);
  return { bucket: m[1] as string, prefix: m[2] as string };
}

function objectKey(prefix: string, artifactId: string, filePath: string): string {
  return `${prefix}${artifactId}/${filePath}`;
}

export interface S3SourceOptions extends HttpSourceOptions {
  /** tests: a client config merged last (never used by the CLI) */
  clientOverrides?: Partial<S3ClientConfig>;
}

/** The Source, plus what `manifest add s3://…` needs to list and read objects the same way. */
export interface S3Source extends Source {
  bucket: string;
  prefix: string;
  client(): Promise<S3Client>;
  /** open() by the object's full key */
  openKey(key: string, req: Omit<OpenRequest, 'artifactId' | 'path'>): Promise<OpenedRange>;
  sdk(): Promise<Sdk>;
  /** an SDK failure as a SourceError naming bucket, key and the S3 code */
  explain(err: unknown, what: string): SourceError;
}

export function createS3Source(src: ResolvedSource, opts: S3SourceOptions = {}): S3Source {
  const env = opts.env ?? process.env;
  const { bucket, prefix } = parseS3Base(src.base);
  const display = `${src.name} (${src.base}${src.endpoint ? ` at ${redactUrl(src.endpoint)}` : ''})`;
  const { timeouts, retry } = resolveHttpOptions(opts);
  const limits = stallBounds(timeouts);
  const agents = createProxyAgents(env, timeouts.connectMs);
  const secrets = [env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, env.AWS_ACCESS_KEY_ID, env.AWS_SECURITY_TOKEN];
  let client: Promise<S3Client> | undefined;

  const { fail, mapError } = createS3Errors(src, bucket, env, secrets);

  async function makeClient(): Promise<S3Client> {
    // The SDK warns on stderr (once per process) that its releases from 2027 on need Node 22; modelmount
    // pins a release that supports Node 20 (package-lock.json), so the warning is noise in our output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const sdk = await loadSdk();
    const region = src.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (src.endpoint ? 'us-east-1' : undefined);
    const config: S3ClientConfig = {
      ...(region ? { region } : {}),
      ...(src.endpoint ? { endpoint: src.endpoint, forcePathStyle: true } : {}),
      followRegionRedirects: true,
      maxAttempts: retry.limit + 1,
      // modelmount hashes every byte itself against the manifest; S3 checksums would only add work
      // (and checksum trailers that some S3-compatible servers refuse)
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // HTTPS_PROXY / HTTP_PROXY / NO_PROXY, decided per request like the http source
      requestHandler: { connectionTimeout: timeouts.connectMs, socketTimeout: limits.idleMs, httpAgent: agents.http, httpsAgent: agents.https },
      credentials: await credentials(),
      ...opts.clientOverrides,
    };
    return new sdk.S3Client(config);
  }

  /** The AWS chain, with the environment modelmount was given (the CLI's own, or a test's). */
  async function credentials(): Promise<NonNullable<S3ClientConfig['credentials']>> {
    const profile = src.profile ?? env.AWS_PROFILE;
    if (!src.profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      return {
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      };
    }
    const { fromNodeProviderChain } = await importDependency('@aws-sdk/credential-providers', () => import('@aws-sdk/credential-providers'));
    return fromNodeProviderChain({
      ...(profile ? { profile } : {}),
      ...(env.AWS_SHARED_CREDENTIALS_FILE ? { filepath: env.AWS_SHARED_CREDENTIALS_FILE } : {}),
      ...(env.AWS_CONFIG_FILE ? { configFilepath: env.AWS_CONFIG_FILE } : {}),
      // STS (web identity, assumed roles) through the same proxy agents; metadata services stay direct
      clientConfig: { requestHandler: { httpAgent: agents.http, httpsAgent: agents.https } },
    });
  }

  function getClient(): Promise<S3Client> {
    client ??= makeClient();
    client.catch(() => (client = undefined));
    return client;
  }

  async function get(key: string, range: string | undefined, ifMatch: string | undefined, signal?: AbortSignal): Promise<GetObjectCommandOutput> {
    const sdk = await loadSdk();
    const c = await getClient();
    return c.send(
      new sdk.GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: range } : {}), ...(range && ifMatch ? { IfMatch: ifMatch } : {}) }),
      signal ? { abortSignal: signal } : {},
    );
  }

  function open(req: OpenRequest): Promise<OpenedRange> {
    return openKey(objectKey(prefix, req.artifactId, req.path), req);
  }

  async function openKey(key: string, req: Omit<OpenRequest, 'artifactId' | 'path'>): Promise<OpenedRange> {
    const what = `s3://${bucket}/${key}`;
    const expected = req.expectedSize;
    const offset = req.offset > 0 && req.offset < expected ? req.offset : 0;
    const failHere = (code: SourceErrorCode, reason: string, retryable: boolean, hint?: string) => fail(code, reason, what, { retryable, ...(hint ? { hint } : {}) });
    let res: GetObjectCommandOutput;
    let start = offset;
    try {
      try {
        res = await get(key, offset > 0 ? `bytes=${offset}-` : undefined, req.validator, req.signal);
      } catch (err) {
        const e = err as S3Failure;
        const status = e.$metadata?.httpStatusCode;
        // 412: the object changed since the partial's bytes came (If-Match); 416: nothing there to resume
        if (offset === 0 || (status !== 412 && status !== 416)) throw err;
        start = 0;
        res = await get(key, undefined, undefined, req.signal);
      }
    } catch (err) {
      if (req.signal?.aborted) throw failHere('EABORTED', 'aborted', false);
      throw mapError(err, what);
    }
    const body = res.Body as Readable | undefined;
    const abandon = () => body?.destroy();
    if (!body) throw failHere('ES3', 'the answer has no body', true);
    if (start > 0) {
      const cr = parseContentRange(res.ContentRange);
      if (!cr || cr.start !== offset || cr.end !== expected - 1) {
        // a range we did not ask for: start over from byte 0
        abandon();
        try {
          res = await get(key, undefined, undefined, req.signal);
        } catch (err) {
          throw mapError(err, what);
        }
        start = 0;
        return finish(res, 0);
      }
      if (cr.total !== undefined && cr.total !== expected) {
        abandon();
        throw sizeError(cr.total);
      }
    }
    return finish(res, start);

    function sizeError(size: number): SourceError {
      return failHere('ESIZE', `the object is ${size} bytes, the manifest says ${expected}`, false, 'The object in the bucket is not the one in the manifest. Fix the bucket, or update the manifest entry.');
    }

    function finish(r: GetObjectCommandOutput, from: number): OpenedRange {
      const stream = r.Body as Readable;
      const length = r.ContentLength;
      if (from === 0 && length !== undefined && length !== expected) {
        stream.destroy();
        throw sizeError(length);
      }
      if (from > 0 && length !== undefined && length !== expected - from) {
        stream.destroy();
        throw failHere('ESIZE', `the rest from byte ${from} is ${length} bytes, expected ${expected - from}`, false);
      }
      const guarded = guardBody(stream, {
        ...limits,
        expected: expected - from,
        start: from,
        total: expected,
        fail: (code, reason, retryable) => failHere(code, reason, retryable),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      return { start: from, totalSize: expected, ...(r.ETag ? { validator: r.ETag } : {}), stream: guarded };
    }
  }

  /**
   * Reachability and credentials: list one key under the prefix. Resolves on an S3 answer below 500 (a 403
   * may only mean no s3:ListBucket), but rejects when the credentials themselves are wrong
   * (unknown key id, bad signature, expired token), missing, or the region is wrong.
   */
  async function probe(signal?: AbortSignal): Promise<void> {
    const what = `s3://${bucket}/`;
    try {
      const sdk = await loadSdk();
      const c = await getClient();
      // a GET (not HEAD): its error body names the S3 code, so a bad signature is told from AccessDenied
      await c.send(new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }), signal ? { abortSignal: signal } : {});
    } catch (err) {
      const mapped = mapError(err, what);
      const status = (err as S3Failure).$metadata?.httpStatusCode;
      const s3Code = mapped.data?.s3Code as string | undefined;
      const badCredentials = ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'ExpiredTokenException', 'InvalidToken', 'TokenRefreshRequired', 'RequestTimeTooSkewed'];
      if (status !== undefined && status < 500 && mapped.code !== 'EREGION' && !badCredentials.includes(s3Code ?? '')) return;
      throw mapped;
    }
  }

  const prepare = (): void => {
    getClient().catch(() => {}); // open() reports a failure
  };

  return { name: src.name, kind: 's3', display, open, probe, prepare, bucket, prefix, client: getClient, openKey, sdk: loadSdk, explain: mapError };
}
