/**
 * Schema (zod) issues as manifest problems: where, what was found, what it must be, and the fix
 * (./field-help.ts), with "did you mean" for unknown keys.
 */
import { closest } from './did-you-mean.ts';
import { FIELDS, OBJECT_KEYS } from './field-help.ts';
import { formatWhere, show, type Reporter, type Seg } from './problem-reporter.ts';

export interface ZodIssueLike {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  expected?: string;
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  values?: unknown[];
}

function patternOf(segs: readonly Seg[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += '[]';
    else if (out === 'artifacts[].labels') out += '.*';
    else out += out ? `.${s}` : s;
  }
  return out;
}

function valueAt(raw: unknown, segs: readonly Seg[]): unknown {
  let v = raw;
  for (const s of segs) {
    if (v === null || typeof v !== 'object') return undefined;
    if (!Object.hasOwn(v, s)) return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}

function nameOf(segs: readonly Seg[]): string {
  for (let i = segs.length - 1; i >= 0; i--) {
    const s = segs[i];
    if (typeof s === 'string') return i === segs.length - 1 ? s : `${s} item`;
  }
  return 'the manifest';
}

export function reportSchemaIssue(report: Reporter, raw: unknown, issue: ZodIssueLike): void {
  const segs = issue.path.filter((s): s is Seg => typeof s === 'string' || typeof s === 'number');
  const pattern = patternOf(segs);

  if (issue.code === 'unrecognized_keys') {
    const allowed = OBJECT_KEYS[pattern] ?? [];
    for (const key of issue.keys ?? []) {
      const guess = closest(key, allowed);
      const merge = key === '<<' ? ' YAML merge keys (<<) are not supported: write the keys out.' : '';
      report.at(
        [...segs, key],
        `unknown key "${key}"${pattern ? ` in ${formatWhere(segs)}` : ''}`,
        `${guess ? `Did you mean "${guess}"? ` : ''}Remove it or use one of the allowed keys: ${allowed.join(', ')}.${merge}`,
        true,
      );
    }
    return;
  }

  const help = FIELDS[pattern] ?? { expect: 'a valid value', fix: 'Check this value against manifests/models.yaml.' };
  const value = valueAt(raw, segs);
  const name = nameOf(segs);
  let message: string;
  let fix = help.fix;

  if (issue.code === 'invalid_key') {
    const key = segs[segs.length - 1];
    report.at(segs, `label name ${show(key)} is not allowed; it must be ${help.expect}`, help.fix, true);
    return;
  }
  if (segs.length === 0) {
    message = value === null || value === undefined ? 'the manifest is empty' : `the manifest must be ${help.expect}, not ${show(value)}`;
  } else if (value === undefined) {
    message = `"${name}" is missing; it must be ${help.expect}`;
  } else if (issue.code === 'invalid_type' && value === null && issue.expected !== 'array' && issue.expected !== 'object') {
    message = `"${name}" is empty; it must be ${help.expect}`;
  } else if (issue.code === 'too_small' && issue.origin === 'array') {
    message = `"${name}" is an empty list; it must be ${help.expect}`;
  } else if (issue.code === 'too_small' && issue.origin === 'string') {
    message = `"${name}" is empty; it must be ${help.expect}`;
  } else {
    message = `"${name}" must be ${help.expect}, not ${show(value)}`;
  }

  // a value that YAML read as a number/boolean where text is expected: quote it
  if (issue.code === 'invalid_type' && issue.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
    const src = report.sourceOf(segs) ?? String(value);
    message = `"${name}" must be ${help.expect}; YAML read ${src.length > 70 ? `${src.slice(0, 67)}…` : src} as a ${typeof value}`;
    fix = `Put the value in quotes so YAML reads it as text: "${src}".`;
  }
  // a number written in quotes where a number is expected
  if (issue.code === 'invalid_type' && issue.expected === 'number' && typeof value === 'string' && /^\s*\d+\s*$/.test(value)) {
    fix = `Remove the quotes: write ${name}: ${value.trim()}`;
  }
  if (pattern === 'artifacts[].files[].sha256' && typeof value === 'string') {
    const filePath = valueAt(raw, [...segs.slice(0, -1), 'path']);
    const shown = typeof filePath === 'string' ? filePath : '<file>';
    if (/^sha256[:-]/i.test(value)) fix = `Drop the "${value.slice(0, 7)}" prefix: write only the 64 hex characters.`;
    else if (/^[0-9A-Fa-f]{64}$/.test(value)) fix = `Write it in lowercase: ${value.toLowerCase()}`;
    else {
      message = `"sha256" must be ${help.expect}, not ${show(value)} (${value.length} characters)`;
      fix = `Replace it with the 64-character output of \`sha256sum ${shown}\`.`;
    }
  } else if (pattern === 'artifacts[].files[].sha256') {
    const filePath = valueAt(raw, [...segs.slice(0, -1), 'path']);
    if (typeof filePath === 'string' && fix === help.fix) fix = `Replace it with the 64-character output of \`sha256sum ${filePath}\`.`;
  }
  if (pattern === 'artifacts[].files[].size' && fix === help.fix) {
    const filePath = valueAt(raw, [...segs.slice(0, -1), 'path']);
    if (typeof filePath === 'string') fix = `Use the output of \`stat -c %s ${filePath}\`.`;
  }
  if (pattern === 'version' && typeof value === 'number' && value > 1) {
    fix = `This modelmount reads manifest version 1 only: upgrade modelmount, or write the manifest in format 1 (\`version: 1\`).`;
  }
  report.at(segs, message, fix);
}
