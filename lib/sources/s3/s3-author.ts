/**
 * `manifest add s3://bucket/prefix/ --id ID`: the artifact's files from the objects under a
 * prefix. Each object's sha256 comes from the full-object SHA-256 checksum S3 stores with it when
 * there is one (no download), else from hashing the object while it streams (nothing is written).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { UsageError } from '../../errors.ts';
import { mapLimit } from '../../concurrency.ts';
import { checkSafeRelativePath } from '../../manifest/paths.ts';
import type { FileEntry, ResolvedSource } from '../../manifest/schema.ts';
import type { HttpSourceOptions } from '../http/options.ts';
import { createS3Source } from './s3-source.ts';

export interface S3Listed extends FileEntry {
  /** where the sha256 came from */
  via: 'checksum' | 'hashed';
}

/** `sha256` base64 of a full-object checksum → hex; undefined for composite (multipart) checksums. */
export function checksumHex(b64: string | undefined, type: string | undefined): string | undefined {
  if (!b64 || /-\d+$/.test(b64) || (type !== undefined && type !== 'FULL_OBJECT')) return undefined;
  const hex = Buffer.from(b64, 'base64').toString('hex');
  return hex.length === 64 ? hex : undefined;
}

export async function listS3Artifact(
  src: ResolvedSource,
  opts: HttpSourceOptions & { jobs: number; signal?: AbortSignal; onFile?: (f: S3Listed) => void },
): Promise<S3Listed[]> {
  const s3 = createS3Source(src, opts);
  const { bucket, prefix } = s3;
  const [client, sdk] = await Promise.all([s3.client(), s3.sdk()]);
  const signal = opts.signal ? { abortSignal: opts.signal } : {};
  const objects: { key: string; path: string; size: number }[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }), signal);
    } catch (err) {
      throw s3.explain(err, `s3://${bucket}/${prefix}`);
    }
    for (const o of page.Contents ?? []) {
      if (!o.Key || o.Key.endsWith('/')) continue; // folder markers
      const rel = o.Key.slice(prefix.length);
      const unsafe = checkSafeRelativePath(rel);
      if (unsafe) throw new UsageError(`s3://${bucket}/${o.Key}: the name ${JSON.stringify(rel)} ${unsafe}.`, { hint: 'Rename the object, or add a prefix that leaves it out.' });
      objects.push({ key: o.Key, path: rel, size: o.Size ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (objects.length === 0) {
    throw new UsageError(`No objects under s3://${bucket}/${prefix}.`, { hint: 'Check the prefix (it is the artifact folder: s3://bucket/models/student_ja/), the endpoint and the region.' });
  }
  return mapLimit(objects, Math.max(1, opts.jobs), async (o): Promise<S3Listed> => {
    const what = `s3://${bucket}/${o.key}`;
    let head;
    try {
      head = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: o.key, ChecksumMode: 'ENABLED' }), signal);
    } catch (err) {
      throw s3.explain(err, what);
    }
    const size = head.ContentLength ?? o.size;
    const known = checksumHex(head.ChecksumSHA256, head.ChecksumType);
    let out: S3Listed;
    if (known) out = { path: o.path, size, sha256: known, via: 'checksum' };
    else {
      // the same reader as downloads (raw bytes, size and stall rules), hashed as it streams
      const opened = await s3.openKey(o.key, { offset: 0, expectedSize: size, ...(opts.signal ? { signal: opts.signal } : {}) });
      const hash = createHash('sha256');
      for await (const chunk of opened.stream as Readable) hash.update(chunk as Buffer);
      out = { path: o.path, size, sha256: hash.digest('hex'), via: 'hashed' };
    }
    opts.onFile?.(out);
    return out;
  });
}
