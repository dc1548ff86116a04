/** Byte ranges of an HTTP answer. */

/**
 * Parse `Content-Range: bytes <start>-<end>/<total|*>`.
 */
export function parseContentRange(value: string | undefined): { start: number; end: number; total?: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) return undefined;
  return m[3] === '*' ? { start, end } : { start, end, total: Number(m[3]) };
}

/**
 * The bytes [offset, end) an open() asks for, clamped to the file, with its Range header (none for
 * the whole file). Resuming (the caller keeps the validator of the answer its bytes came from, in
 * this run or an earlier one): If-Range makes a server whose file changed since answer 200 with
 * the new file at once, instead of a 206 tail that would not verify.
 */
export function plannedRange(req: { offset: number; end?: number; expectedSize: number; validator?: string }): {
  offset: number;
  end: number;
  range?: string;
  ifRange?: string;
} {
  const size = req.expectedSize;
  const offset = req.offset > 0 && req.offset < size ? req.offset : 0;
  // one piece of the file (several connections for one large file), else the rest of it
  const end = req.end !== undefined && req.end > offset && req.end < size ? req.end : size;
  if (offset === 0 && end === size) return { offset, end };
  return { offset, end, range: `bytes=${offset}-${end < size ? end - 1 : ''}`, ...(req.validator !== undefined ? { ifRange: req.validator } : {}) };
}

/**
 * What a 206 answer to `plannedRange` carries: the bytes asked for, the whole file from 0 (fine:
 * the caller sees `end` and falls back to one connection), or a range we did not ask for.
 */
export function partialAnswer(
  cr: { start: number; end: number } | undefined,
  contentLength: string | undefined,
  asked: { offset: number; end: number; size: number },
): 'asked' | 'whole' | 'other' {
  const lengthOk = contentLength === undefined || (cr !== undefined && Number(contentLength) === cr.end - cr.start + 1);
  if (!cr || !lengthOk) return 'other';
  if (cr.start === asked.offset && cr.end === asked.end - 1) return 'asked';
  if (asked.offset === 0 && cr.start === 0 && cr.end === asked.size - 1) return 'whole';
  return 'other';
}
