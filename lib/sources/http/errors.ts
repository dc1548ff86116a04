/**
 * Failures of an HTTP request as SourceErrors: stable code, retryable or not, the fix, and a message
 * that names the file (and the proxy) with every secret redacted. The cause is a sanitised copy,
 * never got's error object (it holds the request headers).
 */
import http from 'node:http';
import { SourceError, type SourceErrorCode } from '../../errors.ts';
import { redactText } from '../../redact.ts';
import { seconds } from '../../stall.ts';
import { HTTP_DEFAULTS, type HttpTimeouts } from './options.ts';
import { RETRY_STATUSES } from './retry.ts';

export type Secrets = readonly (string | undefined)[];

export interface Ctx {
  display: string;
  /** " via proxy http://…" when the first hop goes through a proxy */
  via: string;
  /** redacted URL of the file */
  where: string;
  secrets: Secrets;
  sourceName: string;
}

/** A cause that is safe to serialise: the redacted message and the code, nothing else. */
export function sanitisedCause(err: unknown, secrets: Secrets): Error {
  const e = err as { message?: unknown; code?: unknown } | undefined;
  const clean = new Error(redactText(String(e?.message ?? err), secrets));
  if (typeof e?.code === 'string') (clean as Error & { code?: string }).code = e.code;
  return clean;
}

export function sourceError(
  ctx: Ctx,
  code: SourceErrorCode,
  reason: string,
  opts: { retryable: boolean; status?: number; cause?: unknown; hint?: string; network?: boolean },
): SourceError {
  return new SourceError(code, redactText(`${reason} (GET ${ctx.where}${opts.network ? ctx.via : ''})`, ctx.secrets), {
    retryable: opts.retryable,
    ...(opts.hint ? { hint: opts.hint } : {}),
    ...(opts.cause !== undefined ? { cause: sanitisedCause(opts.cause, ctx.secrets) } : {}),
    data: { source: ctx.sourceName, url: ctx.where, ...(opts.status !== undefined ? { status: opts.status } : {}) },
  });
}

/** Re-wrap a SourceError raised inside got (hooks, agents) so it names the file and stays redacted. */
function rewrap(ctx: Ctx, err: SourceError): SourceError {
  if (err.message.includes(ctx.where)) return err;
  return sourceError(ctx, err.code, err.message, { retryable: err.retryable, ...(err.hint ? { hint: err.hint } : {}) });
}

export function statusError(ctx: Ctx, status: number, tokenEnv: string | undefined): SourceError {
  const reason = `HTTP ${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
  if (status === 401 || status === 403) {
    return sourceError(ctx, 'EAUTH', reason, {
      retryable: false,
      status,
      hint: tokenEnv ? `Check the token in ${tokenEnv} (expired? wrong scope?).` : 'The server wants credentials: set tokenEnv for this source in the manifest.',
    });
  }
  // EMISSING, not ENOTFOUND: Node gives that code to a failed DNS lookup (EDNS here)
  if (status === 404 || status === 410) return sourceError(ctx, 'EMISSING', reason, { retryable: false, status });
  return sourceError(ctx, 'EHTTP', reason, { retryable: status >= 500 || RETRY_STATUSES.has(status), status });
}

const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/;

/** Map an error raised before the response (connect, TLS, redirect, abort, timeout) to a SourceError. */
export function requestError(ctx: Ctx, err: unknown, t: HttpTimeouts): SourceError {
  const e = err as { code?: string; name?: string; event?: string; cause?: unknown; message?: string };
  if (err instanceof SourceError) return rewrap(ctx, err);
  if (e.cause instanceof SourceError) return rewrap(ctx, e.cause);
  const code = e.code ?? '';
  if (e.name === 'AbortError' || code === 'ERR_ABORTED' || code === 'ABORT_ERR') {
    return sourceError(ctx, 'EABORTED', 'aborted', { retryable: false });
  }
  if (code === 'ERR_TOO_MANY_REDIRECTS') {
    return sourceError(ctx, 'EREDIRECT', `more than ${HTTP_DEFAULTS.maxRedirects} redirects`, { retryable: false });
  }
  if (e.name === 'TimeoutError' || code === 'ETIMEDOUT') {
    const event = e.event ?? '';
    if (event === 'lookup' || event === 'connect' || event === 'secureConnect') {
      return sourceError(ctx, 'ETIMEDOUT', `timed out connecting (${event}, ${seconds(t.connectMs)})`, { retryable: true, cause: err, network: true });
    }
    return sourceError(ctx, 'ETIMEDOUT', `no response for ${seconds(t.idleMs)}`, { retryable: true, cause: err, network: true });
  }
  switch (code) {
    case 'ECONNREFUSED':
      return sourceError(ctx, code, 'connection refused', { retryable: true, cause: err, network: true });
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return sourceError(ctx, 'ECONNRESET', 'connection reset before the response', { retryable: true, cause: err, network: true });
    case 'ENOTFOUND':
      return sourceError(ctx, 'EDNS', 'host not found (DNS)', { retryable: false, cause: err, network: true });
    case 'EAI_AGAIN':
      return sourceError(ctx, 'EDNS', 'DNS lookup failed temporarily', { retryable: true, cause: err, network: true });
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
    case 'ENETDOWN':
    case 'EHOSTDOWN':
      return sourceError(ctx, 'ENETWORK', `network unreachable (${code})`, { retryable: true, cause: err, network: true });
    default:
      break;
  }
  if (TLS_CODES.test(code)) {
    return sourceError(ctx, 'ETLS', `TLS certificate problem (${code})`, {
      retryable: false,
      cause: err,
      hint: 'The server certificate is not trusted for this host. Fix the certificate, or trust the CA with NODE_EXTRA_CA_CERTS.',
    });
  }
  return sourceError(ctx, 'ENETWORK', `network error${code ? ` (${code})` : ''}`, { retryable: true, cause: err, network: true });
}

export function sizeError(ctx: Ctx, what: string, got_: number, expected: number, encoding?: string): SourceError {
  return sourceError(ctx, 'ESIZE', `the server says ${what} is ${got_} bytes, the manifest says ${expected}`, {
    retryable: false,
    hint: encoding
      ? `The server sent Content-Encoding: ${encoding.slice(0, 40)} although identity was asked for: it compresses the file on the fly. Serve it without compression (for nginx: gzip off for this location).`
      : 'The file on the server is not the one in the manifest. Fix the source, or update the manifest entry.',
  });
}

/** What a request that failed after retries says: the last failure, and how many attempts it took. */
export function gaveUp(failure: SourceError, attempts: number): SourceError {
  return new SourceError(failure.code, `${failure.message}; gave up after ${attempts} attempts`, {
    retryable: failure.retryable,
    ...(failure.hint ? { hint: failure.hint } : {}),
    ...(failure.cause !== undefined ? { cause: failure.cause } : {}),
    data: { ...failure.data, attempts },
  });
}
