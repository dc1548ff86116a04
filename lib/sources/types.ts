/**
 * The one small interface every source implements: open a byte range of a file.
 * Resuming, hashing, size checks, retries across reopen and atomic placement are
 * done once, by the caller (lib/store/fetch-blob.ts), for every kind of source.
 */
import type { Readable } from 'node:stream';
import type { SourceKind } from '../manifest/schema.ts';

export interface OpenRequest {
  /** artifact id, e.g. "student/v0_ja" (already validated as a safe relative path) */
  artifactId: string;
  /** file path inside the artifact (already validated as a safe relative path) */
  path: string;
  /** byte offset to start from; 0 for a fresh transfer */
  offset: number;
  /**
   * Exclusive end of the byte range wanted, for one piece of a file fetched over several
   * connections (only asked of a source with `ranges: true`); default: the end of the file.
   */
  end?: number;
  /** the size the manifest expects, used to reject a wrong Content-Length early */
  expectedSize: number;
  /** the sha256 the manifest expects (an OCI source checks it against the layer digest before fetching) */
  expectedSha256?: string;
  /**
   * With `offset` > 0: the validator (see OpenedRange) of the response the bytes before `offset`
   * came from (in this run or an earlier one: fetchBlob keeps it). An HTTP source sends it as
   * If-Range, so a file that changed since comes back whole (start 0) instead of as a tail that
   * would not verify.
   */
  validator?: string;
  signal?: AbortSignal;
}

export interface OpenedRange {
  /**
   * Where the returned stream really starts. Equal to `offset` when the source
   * honoured the range, 0 when it sent the whole file (HTTP 200 to a Range request):
   * the caller must then discard its partial file and start over.
   */
  start: number;
  /** total file size as the source reports it, when known */
  totalSize?: number;
  /** Exclusive end of what the stream carries: the asked `end` when honoured, else the end of the file. */
  end?: number;
  /** what identifies this version of the file, when the source says (HTTP: a strong ETag, else Last-Modified) */
  validator?: string;
  stream: Readable;
  /**
   * Give a chunk of `stream` back once its bytes are written: the source may read into it again
   * (lib/sources/pooled-read.ts). Optional on both sides: a chunk never given back is garbage.
   */
  recycle?: (chunk: Buffer) => void;
}

export interface Source {
  /** manifest name of the source */
  readonly name: string;
  readonly kind: SourceKind;
  /** a redacted description, safe for logs and JSON: no token, no query string, no password */
  readonly display: string;
  /** open() honours `end` (one piece of a file): a large file may be fetched over several connections */
  readonly ranges?: boolean;
  /** A readable for the bytes of the file from `offset`. Rejects with a SourceError. */
  open(req: OpenRequest): Promise<OpenedRange>;
  /** Cheap reachability probe (HEAD / stat of the root), for bootstrap and doctor. */
  probe?(signal?: AbortSignal): Promise<void>;
  /**
   * The plan will open files from this source: get ready (an HTTP source starts loading its
   * client, which would otherwise delay the first request). Never throws; failures surface in open().
   */
  prepare?(): void;
}
