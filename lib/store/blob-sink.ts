/**
 * Where a fetch (lib/store/fetch-blob.ts) puts the bytes of one blob until they are verified: a
 * partial file on disk (lib/store/partial.ts: big blobs, and any blob with an abandoned partial
 * to resume) or memory (lib/store/memory-blob.ts: small blobs). Both hash every byte as it
 * arrives; `seal()` then makes the verified bytes durable in a file of their own in <cache>/tmp
 * for lib/store/place-blob.ts to give the store name.
 */

/** What a stream is fed into (lib/store/blob-writer.ts pipeToWriter). */
export interface ChunkSink {
  /** bytes accepted so far, resumed prefix included */
  readonly pos: number;
  /**
   * Take `chunk` (hashed, kept; never modify it afterwards). `recycle(chunk)` is called once the
   * sink no longer holds it (written), if the sink gives chunks back. False: pause until `ready()`.
   */
  push(chunk: Buffer, recycle?: (chunk: Buffer) => void): boolean;
  ready(): Promise<void>;
}

export interface SinkWriter extends ChunkSink {
  /** everything pushed is stored (on its way to disk); throws the first write error */
  flush(): Promise<void>;
  /** start over from byte 0 */
  reset(): Promise<void>;
  /** sha256 (hex) of every byte so far; the writer stays usable */
  digest(): Promise<string>;
  /** nothing in flight afterwards; never throws */
  close(): Promise<void>;
}

export interface SavedValidator {
  source: string;
  validator: string;
}

export abstract class BlobSink {
  /** the valid bytes from 0, hashed as they arrive; undefined until load() */
  abstract readonly writer: SinkWriter | undefined;
  /** where the bytes came from, sent back as If-Range on every resume */
  saved: SavedValidator | undefined;
  /**
   * Did the bytes come from more than one response (an earlier run's prefix, or a resume in this
   * run)? Then a mismatch may be the splice's fault (the file changed on the server between the
   * responses, a stale mirror answered first): worth one download from byte 0.
   */
  spliced = false;
  /** bytes reused from an earlier partial (re-hashed) */
  resumedFrom = 0;
  /** close() keeps the bytes for a later resume (as a partial) unless this is false */
  worthKeeping = true;
  /** the sealed file's name is gone (moved into the store): close() has nothing to remove */
  moved = false;

  /** Take what an earlier run left (a claimed partial); `limit`: the blob's size. */
  abstract load(limit: number): Promise<void>;

  /** Record where the bytes now come from (undefined: no validator describes them). */
  abstract recordValidator(next: SavedValidator | undefined): Promise<void>;

  /**
   * Every byte is verified: write them out if need be, fsync, make the file read-only (0444) and
   * close it, at a name of its own in <cache>/tmp. Returns that name, ready to be linked into the
   * store; undefined if the bytes were lost meanwhile (another process claimed a stalled partial):
   * the sink then starts over from byte 0. Afterwards close() removes the file unless `moved`.
   */
  abstract seal(sha: string): Promise<string | undefined>;

  /** Stop, and remove what is not worth keeping. Never throws. */
  abstract close(): Promise<void>;

  /** bytes of the file present from 0 */
  get pos(): number {
    return this.writer!.pos;
  }

  /** Start the file over from byte 0. */
  async restart(): Promise<void> {
    await this.writer!.reset();
    this.spliced = false;
  }

  /** The validator to send to `source` with a resume: only one it gave for the bytes we hold. */
  validatorFor(source: string): string | undefined {
    return this.pos > 0 && this.saved?.source === source ? this.saved.validator : undefined;
  }
}
