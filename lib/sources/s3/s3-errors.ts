/**
 * What an S3 failure means: anything the AWS SDK throws as a SourceError naming bucket, key and
 * the S3 error code, with the fix; written here, never copied from the SDK, and redacted.
 */
import { SourceError, type SourceErrorCode } from '../../errors.ts';
import { throwIfDependencyError } from '../../import-dependency.ts';
import type { ResolvedSource } from '../../manifest/schema.ts';
import { redactText } from '../../redact.ts';

export interface S3Failure {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const AUTH_HINTS: Record<string, string> = {
  AccessDenied:
    'The credentials are valid but may not read this object: allow s3:GetObject on it (IAM policy or bucket policy), or use another `profile:`.',
  Forbidden: 'The credentials may not read this bucket: allow s3:GetObject / s3:ListBucket, or use another `profile:`.',
  AllAccessDisabled: 'Access to this bucket is disabled by its owner.',
  InvalidAccessKeyId:
    'The access key id is not known to this endpoint: check AWS_ACCESS_KEY_ID (or the `profile:` in ~/.aws/credentials), and that `endpoint:` points at the right server.',
  SignatureDoesNotMatch:
    'The secret access key does not belong to the access key id (check AWS_SECRET_ACCESS_KEY or the profile), or the `region:` is wrong for this bucket.',
  ExpiredToken: 'The session credentials expired: refresh them (aws sso login, assume the role again, or renew AWS_SESSION_TOKEN) and run again.',
  ExpiredTokenException: 'The session credentials expired: refresh them (aws sso login, assume the role again, or renew AWS_SESSION_TOKEN) and run again.',
  TokenRefreshRequired: 'The session credentials must be refreshed: renew AWS_SESSION_TOKEN (or the profile) and run again.',
  InvalidToken: 'The session token is malformed or belongs to other keys: renew AWS_SESSION_TOKEN (or the profile) and run again.',
  RequestExpired: "The signed request expired before it arrived: check this machine's clock.",
  RequestTimeTooSkewed: "This machine's clock differs too much from the server's: fix the clock (NTP) and run again.",
};

const CREDENTIAL_HINT =
  'Give AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary ones), `profile:` on the source (or AWS_PROFILE) naming a profile in ~/.aws/credentials, or run where a role is available (ECS task role, instance profile, web identity).';

export interface S3Errors {
  fail(code: SourceErrorCode, reason: string, what: string, extra: { retryable: boolean; hint?: string; s3Code?: string; status?: number; attempts?: number }): SourceError;
  mapError(err: unknown, what: string): SourceError;
}

export function createS3Errors(src: ResolvedSource, bucket: string, env: NodeJS.ProcessEnv, secrets: readonly (string | undefined)[]): S3Errors {
  function fail(code: SourceErrorCode, reason: string, what: string, extra: { retryable: boolean; hint?: string; s3Code?: string; status?: number; attempts?: number }): SourceError {
    return new SourceError(code, redactText(`${reason} (${what})`, secrets), {
      retryable: extra.retryable,
      ...(extra.hint ? { hint: redactText(extra.hint, secrets) } : {}),
      data: {
        source: src.name,
        bucket,
        ...(what.startsWith('s3://') && what.length > `s3://${bucket}/`.length ? { key: what.slice(`s3://${bucket}/`.length) } : {}),
        ...(extra.s3Code ? { s3Code: extra.s3Code } : {}),
        ...(extra.status !== undefined ? { status: extra.status } : {}),
        ...(extra.attempts !== undefined && extra.attempts > 1 ? { attempts: extra.attempts } : {}),
      },
    });
  }

  /** Map anything the SDK threw to a SourceError naming bucket, key and the S3 error code (a broken installation is thrown as it is). */
  function mapError(err: unknown, what: string): SourceError {
    throwIfDependencyError(err);
    if (err instanceof SourceError) {
      // raised by the proxy agent: name the object too
      if (err.code !== 'EPROXY' || err.message.includes(what)) return err;
      return fail(err.code, err.message, what, { retryable: err.retryable, ...(err.hint ? { hint: err.hint } : {}) });
    }
    const e = (err ?? {}) as S3Failure;
    const name = e.Code ?? e.name ?? '';
    const status = e.$metadata?.httpStatusCode;
    const attempts = e.$metadata?.attempts;
    const tried = attempts !== undefined && attempts > 1 ? `; gave up after ${attempts} attempts` : '';
    if (name === 'AbortError' || e.code === 'ABORT_ERR') return fail('EABORTED', 'aborted', what, { retryable: false });
    if (name === 'CredentialsProviderError' || /credential/i.test(name)) {
      return fail('ENOCREDS', `no AWS credentials found${src.profile ? ` for profile ${src.profile}` : ''}`, what, { retryable: false, hint: CREDENTIAL_HINT });
    }
    if (name === 'ProfileNotFound' || /profile/i.test(e.message ?? '') && status === undefined) {
      return fail('ENOCREDS', `cannot use AWS profile ${src.profile ?? env.AWS_PROFILE ?? 'default'}`, what, { retryable: false, hint: CREDENTIAL_HINT });
    }
    if (/region is missing/i.test(e.message ?? '')) {
      return fail('EREGION', 'no region for this bucket', what, { retryable: false, hint: 'Set `region:` on the source (or AWS_REGION).' });
    }
    if (status !== undefined) {
      const label = `${name || 'error'} (HTTP ${status})${tried}`;
      if (AUTH_HINTS[name] || status === 401 || status === 403) {
        return fail('EAUTH', label, what, { retryable: false, hint: AUTH_HINTS[name] ?? AUTH_HINTS.Forbidden, s3Code: name, status, attempts });
      }
      if (name === 'NoSuchKey' || (status === 404 && name !== 'NoSuchBucket')) {
        return fail('EMISSING', label, what, { retryable: false, hint: `The object is not in the bucket: check the url's prefix (${src.base}) and upload the file, or fix the manifest.`, s3Code: name, status });
      }
      if (name === 'NoSuchBucket') {
        return fail('EMISSING', label, what, { retryable: false, hint: 'The bucket does not exist on this endpoint: check the bucket name in the url, `endpoint:` and `region:`.', s3Code: name, status });
      }
      if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
        return fail('EREGION', label, what, { retryable: false, hint: "The bucket is in another region: set the source's `region:` to the bucket's region.", s3Code: name, status });
      }
      return fail('ES3', label, what, { retryable: status >= 500 || status === 429 || name === 'SlowDown', s3Code: name, status, attempts });
    }
    if (name === 'TimeoutError' || e.code === 'ETIMEDOUT') return fail('ETIMEDOUT', `no answer in time${tried}`, what, { retryable: true, attempts });
    const code = e.code ?? '';
    if (code === 'ECONNREFUSED') return fail('ECONNREFUSED', `connection refused${tried}`, what, { retryable: true, attempts });
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return fail('EDNS', 'host not found (DNS)', what, { retryable: code === 'EAI_AGAIN', hint: 'Check `endpoint:` (and `region:`) of this source.' });
    }
    if (/^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_)/.test(code)) {
      return fail('ETLS', `TLS certificate problem (${code})`, what, { retryable: false, hint: 'Trust the endpoint\'s CA with NODE_EXTRA_CA_CERTS, or fix its certificate.' });
    }
    return fail('ENETWORK', `request failed${code ? ` (${code})` : name ? ` (${name})` : ''}${tried}`, what, { retryable: true, attempts });
  }

  return { fail, mapError };
}
