/**
 * Read a manifest, validate it completely, resolve it.
 *
 *   file ──read (this file: not found, not a file, too large)──▶ text
 *   text ──yaml Document (with ranges)──▶ syntax problems   ┐ all collected,    ./parse-yaml.ts
 *        ──zod schema──────────────────▶ shape problems     │ thrown together   ./schema-problems.ts
 *        ──semantic checks on raw data─▶ meaning problems   ┘                   ./checks.ts
 *        ──resolve──────────────────────▶ Manifest (absolute paths, digest)     ./resolve.ts
 *
 * Every problem carries file:line:column, a dotted `where`, a message and a
 * concrete fix, and all of them are reported at once in one ManifestError (./problem-reporter.ts).
 * Relative paths resolve against the manifest's own folder, never the cwd;
 * `~` is not expanded (it is an ordinary folder name).
 */
import path from 'node:path';
import { ModelmountError, UsageError } from '../errors.ts';
import { NotRegularFileError, readRegularFile, stallDeadline } from '../fs-safe.ts';
import { CACHE_MIN_BYTES, defaultParsedCache, parsedManifestOf, type ParsedCache } from './parsed-cache.ts';
import { parseManifestDocument, parseManifestFast } from './parse-yaml.ts';
import type { Manifest } from './schema.ts';

export interface LoadManifestOptions {
  /** used for MODELS_MANIFEST when `file` is empty; defaults to process.env */
  env?: NodeJS.ProcessEnv;
  /** folder a relative `file` is resolved against; defaults to process.cwd() */
  cwd?: string;
  /** where a large validated manifest is kept parsed (./parsed-cache.ts); default: the user's cache when run from the bundle; false: none */
  parsedCache?: ParsedCache | false;
  /** the run's: an abort ends a wait on the manifest or the parsed cache (a hung mount or home folder) at once, with its reason */
  signal?: AbortSignal;
}

/**
 * Read and validate the manifest at `file` (or, when `file` is empty, at
 * `$MODELS_MANIFEST`). Throws UsageError (code ENOMANIFEST) when it cannot be
 * read, DiskError (ESTALLED) when its read does not answer within the stall bound,
 * and ManifestError listing every problem when it is invalid.
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
    // never blocks: a FIFO, socket or device is refused at once (fstat of a non-blocking open); a hung mount is ESTALLED
    const read = readRegularFile(abs, (st) => {
      if (st.size > MAX_MANIFEST_BYTES) throw tooLarge(abs, st.size);
    });
    text = await stallDeadline('Reading', abs, { signal: opts.signal }).bound(read);
  } catch (err) {
    if (err instanceof ModelmountError || opts.signal?.aborted) throw err;
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
  const large = text.length >= CACHE_MIN_BYTES; // a small manifest parses in milliseconds: no cache, not even its lookup
  const cache = !large ? undefined : opts.parsedCache === undefined ? defaultParsedCache(env) : opts.parsedCache || undefined;
  return cache ? parsedManifestOf(cache, abs, text, () => parseManifest(text, abs), opts.signal) : parseManifest(text, abs);
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

