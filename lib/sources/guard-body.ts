/**
 * The body rules every network source applies to the stream it hands to fetch-blob: exactly
 * `expected` bytes (more is ESIZE, fewer ETRUNCATED: never a silent early end), and the stall
 * watchdog (lib/stall.ts: idle limit, minimum throughput) as ESTALLED. Errors come from the
 * source's own `fail`, so they name its object and stay redacted. Used by every network source
 * (http, s3, oci).
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { SourceError, SourceErrorCode } from '../errors.ts';
import { idleStall, watchStalls, type StallBounds } from '../stall.ts';

export interface GuardBodyOptions extends StallBounds {
  /** bytes the body must have */
  expected: number;
  /** where the body starts in the file (for messages) */
  start: number;
  total: number;
  /** build the source's error for `code` (ESIZE, ETRUNCATED, ESTALLED, ECONNRESET, ENETWORK, EABORTED) */
  fail: (code: SourceErrorCode, reason: string, retryable: boolean, cause?: unknown) => SourceError;
  signal?: AbortSignal;
}

export function guardBody(upstream: Readable, o: GuardBodyOptions): Readable {
  let received = 0;
  const at = () => `after ${o.start + received} of ${o.total} bytes`;
  // How the connection ended, when it ended before the whole body: reported once the consumer has
  // read every byte that did arrive (destroying `out` at once would drop what is still buffered in
  // it, bytes a slow consumer could have kept for a resume).
  let endedEarly: SourceError | undefined;

  const out = new Transform({
    readableHighWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      received += chunk.length;
      watchdog.bytes(chunk.length);
      if (received > o.expected) {
        cb(o.fail('ESIZE', `the server sent more than the ${o.total} bytes the manifest says`, false));
        return;
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      const err = endedEarly ?? (received < o.expected ? o.fail('ETRUNCATED', `the body ended early, ${at()}`, true) : undefined);
      if (!err) {
        cb();
        return;
      }
      const afterDrain = () => {
        if (out.destroyed) return;
        if (out.readableLength > 0) setTimeout(afterDrain, 5);
        else cb(err);
      };
      afterDrain();
    },
  });
  // The consumer attaches after open() resolves (fetch-blob writes its validator first): an
  // upstream failure in between must not be an uncaught 'error'. It stays in `out.errored`, which
  // finished()/pipeline() report to the consumer when it attaches.
  out.on('error', () => {});
  const stop = (err: SourceError) => {
    if (!out.destroyed) out.destroy(err);
  };
  /** The connection ended (reset, closed early): what arrived still reaches the consumer, then `err`. */
  const endEarly = (err: SourceError) => {
    if (endedEarly || out.destroyed) return;
    endedEarly = err;
    upstream.unpipe(out);
    out.end();
  };
  const watchdog = watchStalls(out, o, (why) => stop(o.fail('ESTALLED', `stalled: ${why}, ${at()}`, true)));

  const onAbort = () => stop(o.fail('EABORTED', 'aborted', false));
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const onUpstreamError = (err: unknown) => {
    const e = err as { code?: string; name?: string };
    if (e.name === 'AbortError' || e.code === 'ABORT_ERR' || e.code === 'ERR_ABORTED' || o.signal?.aborted) stop(o.fail('EABORTED', 'aborted', false));
    else if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT') stop(o.fail('ESTALLED', `stalled: ${idleStall(o)}, ${at()}`, true, err));
    else if (e.code === 'ERR_HTTP_CONTENT_LENGTH_MISMATCH') endEarly(o.fail('ETRUNCATED', `the connection closed early, ${at()}`, true, err));
    else if (e.code === 'ECONNRESET' || e.code === 'EPIPE' || e.code === 'ECONNABORTED' || e.code === 'ERR_STREAM_PREMATURE_CLOSE') {
      endEarly(o.fail('ECONNRESET', `connection reset ${at()}`, true, err));
    } else endEarly(o.fail('ENETWORK', `download failed ${at()}${e.code ? ` (${e.code})` : ''}`, true, err));
  };
  // Closed without 'end' and without an error: never end silently.
  const onUpstreamClose = () => {
    if (!upstream.readableEnded) endEarly(o.fail('ETRUNCATED', `the connection closed early, ${at()}`, true));
  };
  upstream.on('error', onUpstreamError);
  upstream.on('close', onUpstreamClose);
  if (upstream.destroyed) process.nextTick(() => (upstream.errored ? onUpstreamError(upstream.errored) : onUpstreamClose()));
  out.on('close', () => {
    watchdog.stop();
    o.signal?.removeEventListener('abort', onAbort);
    // Ended or not, destroyed: got's stream (autoDestroy off) keeps its 'abort' listener on the
    // run's AbortSignal until it is destroyed, and with it the whole request: ~30 KB per file held
    // to the end of the run (issue 15: 2,000 files over HTTP, heap 31 -> 93 MB). A response read to
    // its end has already handed its keep-alive socket back to the agent: destroying it then closes
    // no connection.
    if (!upstream.destroyed) upstream.destroy();
  });
  upstream.pipe(out);
  return out;
}
