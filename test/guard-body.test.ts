/** lib/sources/guard-body.ts (the S3 and OCI sources' body rules): an early end never drops bytes that arrived. */
import { PassThrough, type Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SourceError } from '../lib/errors.ts';
import { guardBody } from '../lib/sources/guard-body.ts';
import { waitFor } from './helpers/wait.ts';

function guarded(upstream: Readable, expected: number): Readable {
  return guardBody(upstream, {
    expected,
    start: 0,
    total: expected,
    idleMs: 60_000,
    stallBytesPerSec: 1,
    stallWindowMs: 60_000,
    fail: (code, reason, retryable) => new SourceError(code, reason, { retryable }),
  });
}

async function readUntilError(stream: Readable): Promise<{ bytes: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream) chunks.push(c as Buffer);
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
  return { bytes: Buffer.concat(chunks), error: undefined };
}

describe('guardBody', () => {
  for (const [what, end] of [
    ['reset', (u: PassThrough) => u.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))],
    ['closed without an end', (u: PassThrough) => u.destroy()],
  ] as const) {
    it(`a consumer that reads only after the connection was ${what} gets every byte that arrived, then the error`, async () => {
      const upstream = new PassThrough();
      const out = guarded(upstream, 1000) as Readable & { writableEnded?: boolean };
      const sent = Buffer.alloc(100, 7);
      upstream.write(sent);
      await waitFor(() => out.readableLength === 100, 'the guard to hold the 100 bytes');
      end(upstream);
      await waitFor(() => out.destroyed || Boolean(out.writableEnded), 'the guard to notice the end of the connection');
      const { bytes, error } = await readUntilError(out);
      expect(bytes.equals(sent)).toBe(true);
      expect(error).toBeInstanceOf(SourceError);
      expect((error as SourceError).code).toBe(what === 'reset' ? 'ECONNRESET' : 'ETRUNCATED');
    });
  }

  it('a whole body ends without an error; a short one that ends cleanly is ETRUNCATED', async () => {
    const whole = new PassThrough();
    const a = guarded(whole, 10);
    whole.end(Buffer.alloc(10));
    expect(await readUntilError(a)).toMatchObject({ error: undefined });
    const short = new PassThrough();
    const b = guarded(short, 10);
    short.end(Buffer.alloc(4));
    const r = await readUntilError(b);
    expect(r.bytes.length).toBe(4);
    expect((r.error as SourceError).code).toBe('ETRUNCATED');
  });
});
