/**
 * The two readings of manifest text.
 *
 * Speed: the yaml Document (kept for its node ranges) costs ~1.5 µs per byte and a lot of
 * garbage: 20,000 artifacts took seconds. A manifest that is valid is first read by js-yaml
 * (~10x faster) with the YAML 1.2 core scalars the Document path uses; any problem there, or
 * anything the two could read differently (a %directive, anchors and aliases), goes the Document
 * path, which alone reports problems (with positions). Over MAX_MANIFEST_BYTES (./load.ts): refused.
 */
import path from 'node:path';
import { FAILSAFE_SCHEMA, load as loadYamlFast, Type as YamlType } from 'js-yaml';
import { LineCounter, parseDocument } from 'yaml';
import { checkSemantics } from './checks.ts';
import { Reporter } from './problem-reporter.ts';
import { resolveManifest } from './resolve.ts';
import { reportSchemaIssue, type ZodIssueLike } from './schema-problems.ts';
import { manifestSchema, type Manifest } from './schema.ts';

/** /^(?:~|[Nn]ull|NULL)?$/ */
export function isNull(s: string): boolean {
  return s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL';
}

/** /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/ */
export function isBool(s: string): boolean {
  return s === 'true' || s === 'True' || s === 'TRUE' || s === 'false' || s === 'False' || s === 'FALSE';
}

/** an int starts with one of -+0-9 (0o and 0x too): anything else is settled without the regular expression */
export function isInt(s: string): boolean {
  return /^[-+0-9]/.test(s) && /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/.test(s);
}

/** a float starts with one of -+.0-9 */
export function isFloat(s: string): boolean {
  return (
    /^[-+.0-9]/.test(s) &&
    (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s) ||
      /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s) ||
      /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s))
  );
}

// YAML 1.2 core schema scalars, exactly as the yaml package's Document path resolves them
// (js-yaml's own CORE_SCHEMA also takes YAML 1.1 forms such as 1_000 and 0b101).
// Every plain scalar (keys included: 20,000 files are 120,000 scalars) is offered to each type
// in turn: a look at the first character first settles most of them without a regular expression.
const core12 = FAILSAFE_SCHEMA.extend({
  implicit: [
    new YamlType('tag:yaml.org,2002:null', {
      kind: 'scalar',
      resolve: (v: unknown) => isNull(String(v)),
      construct: () => null,
    }),
    new YamlType('tag:yaml.org,2002:bool', {
      kind: 'scalar',
      resolve: (v: unknown) => isBool(String(v)),
      construct: (s: string) => s[0] === 't' || s[0] === 'T',
    }),
    new YamlType('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: (v: unknown) => isInt(String(v)),
      construct: (s: string) => (s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10)),
    }),
    new YamlType('tag:yaml.org,2002:float', {
      kind: 'scalar',
      resolve: (v: unknown) => isFloat(String(v)),
      construct: (s: string) =>
        s.slice(-3).toLowerCase() === 'nan' ? Number.NaN : s.slice(-3).toLowerCase() === 'inf' ? (s[0] === '-' ? -Infinity : Infinity) : parseFloat(s),
    }),
  ],
});

/** a %directive line, or an anchor (&a) or alias (*a) where a node can start: the Document path's business */
const DOCUMENT_PATH_ONLY = /^%|(?:^|[\s[{,:-])[&*][^\s,\]}]/m;

/** The fast reading of a manifest that is valid; undefined for anything else (the Document path reports it). */
export function parseManifestFast(text: string, file: string): Manifest | undefined {
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (DOCUMENT_PATH_ONLY.test(source)) return undefined;
  let raw: unknown;
  try {
    raw = loadYamlFast(source, { schema: core12, json: false });
  } catch {
    return undefined;
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const absFile = path.resolve(file);
  const dir = path.dirname(absFile);
  const report = new Reporter(file, source);
  checkSemantics(report, raw, dir, absFile);
  if (report.problems.length > 0) return undefined;
  return resolveManifest(parsed.data, absFile, dir);
}

/** parseManifest through the yaml Document only: the reference reading, with a position for every problem. */
export function parseManifestDocument(text: string, file: string): Manifest {
  const absFile = path.resolve(file);
  const dir = path.dirname(absFile);
  const lineCounter = new LineCounter();
  // a UTF-8 byte order mark is invisible: drop it so columns on line 1 are right
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const doc = parseDocument(source, {
    lineCounter,
    keepSourceTokens: true,
    prettyErrors: false,
    uniqueKeys: true,
    logLevel: 'error',
  });
  const report: Reporter = new Reporter(file, source, doc, lineCounter);

  // an error at the very end (an unclosed quote or bracket) is reported on the last non-blank line
  const lastContent = source.trimEnd().length;
  const lastLineStart = source.lastIndexOf('\n', Math.max(0, lastContent - 1)) + 1;
  for (const e of [...doc.errors, ...doc.warnings]) {
    const at = e.pos[0] >= lastContent && lastContent > 0 ? lastLineStart : e.pos[0];
    report.atOffset(at, '(yaml)', `YAML: ${e.message}`, yamlFix(e.code));
  }
  if (report.problems.length > 0) report.throw();

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    report.atOffset(0, '(yaml)', `YAML: ${(err as Error).message}`, 'Remove the aliases (*name); write the values out.');
    report.throw();
  }

  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) reportSchemaIssue(report, raw, issue as unknown as ZodIssueLike);
  }
  checkSemantics(report, raw, dir, absFile);
  if (report.problems.length > 0 || !parsed.success) report.throw();
  return resolveManifest(parsed.data, absFile, dir);
}

function yamlFix(code: string): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'Remove one of the two keys with the same name (YAML keeps only one).';
    case 'TAB_AS_INDENT':
      return 'Indent with spaces, not tabs.';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return 'Check the indentation and closing brackets/quotes on this line and the one before it.';
    case 'MULTIPLE_DOCS':
      return 'Keep a single YAML document: remove the `---` separator and whatever follows it.';
    case 'MULTILINE_IMPLICIT_KEY':
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'Put `key: value` on one line; quote values that contain ": " or " #".';
    case 'TAG_RESOLVE_FAILED':
    case 'BAD_COLLECTION_TYPE':
      return 'Remove the `!tag`; manifests use plain YAML values.';
    default:
      return 'Fix the YAML syntax at this position; quote values that contain ": ", " #", or start with "*", "&", "!", "@" or "`".';
  }
}
