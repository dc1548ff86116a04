/**
 * Selection rules, pure: which artifacts a command acts on, whether the
 * manifest's `require` rules hold for them, and in which order sources are
 * tried. Flags arrive here already split (see parseLabelFlags); prompts live in
 * lib/ui and only ever produce the same options.
 */
import { UsageError } from '../errors.ts';
import { closest } from './did-you-mean.ts';
import { LABEL_RE, type Artifact, type Manifest, type ResolvedSource } from './schema.ts';

export interface SelectOptions {
  /** exact artifact ids (--only); explicitly named optional artifacts are included */
  only?: readonly string[];
  /** --labels: values of one key are OR-ed, different keys are AND-ed; optional artifacts can match */
  labels?: Readonly<Record<string, readonly string[]>>;
  /** also take the optional artifacts (with labels: those the labels do not rule out, e.g. one without that key) */
  includeOptional?: boolean;
}

function list(values: Iterable<string>): string {
  return [...values].join(', ');
}

/** an unknown "id" that is a YAML file name was meant as the manifest */
function manifestHint(unknown: readonly string[]): string {
  const file = unknown.find((u) => /\.ya?ml$/i.test(u));
  return file ? ` To use another manifest, pass --manifest ${file}.` : '';
}

function didYouMean(value: string, candidates: readonly string[]): string {
  const guess = closest(value, candidates);
  return guess ? ` Did you mean "${guess}"?` : '';
}

/**
 * The artifacts to act on, in manifest order. Default: every non-optional
 * artifact (plus optional ones with includeOptional). `only` and `labels`
 * filter together (an artifact must pass both). Throws UsageError for unknown
 * ids, unknown label keys or values, and filters that leave nothing.
 */
export function selectArtifacts(manifest: Pick<Manifest, 'artifacts'>, opts: SelectOptions = {}): Artifact[] {
  const all = manifest.artifacts;
  const ids = all.map((a) => a.id);
  const only = opts.only && opts.only.length > 0 ? new Set(opts.only) : undefined;
  const labels = opts.labels && Object.keys(opts.labels).length > 0 ? opts.labels : undefined;

  if (only) {
    const unknown = [...only].filter((id) => !ids.includes(id));
    if (unknown.length > 0) {
      const first = unknown[0] as string;
      throw new UsageError(`Unknown artifact id${unknown.length > 1 ? 's' : ''}: ${list(unknown)}.`, {
        code: 'EUNKNOWNID',
        hint: `Valid ids: ${list(ids)}.${didYouMean(first, ids)}${manifestHint(unknown)}`,
        data: { unknown, valid: ids },
      });
    }
  }
  if (labels) {
    const known = new Map<string, Set<string>>();
    for (const a of all) {
      for (const [k, v] of Object.entries(a.labels)) {
        const set = known.get(k) ?? new Set<string>();
        set.add(v);
        known.set(k, set);
      }
    }
    const keys = [...known.keys()].sort();
    for (const [key, values] of Object.entries(labels)) {
      const valuesOfKey = known.get(key);
      if (!valuesOfKey) {
        throw new UsageError(`Unknown label "${key}".`, {
          code: 'EUNKNOWNLABEL',
          hint: keys.length > 0 ? `Labels in this manifest: ${list(keys)}.${didYouMean(key, keys)}` : 'No artifact in this manifest has labels; use --only <id> instead.',
          data: { label: key, known: keys },
        });
      }
      const knownValues = [...valuesOfKey].sort();
      for (const v of values) {
        if (!valuesOfKey.has(v)) {
          throw new UsageError(`No artifact has the label ${key}=${v}.`, {
            code: 'EUNKNOWNLABEL',
            hint: `Values of "${key}" in this manifest: ${list(knownValues)}, e.g. --labels ${key}=${knownValues[0]}.${didYouMean(v, knownValues)}`,
            data: { label: key, value: v, known: knownValues },
          });
        }
      }
    }
  }

  if (!only && !labels) return all.filter((a) => opts.includeOptional || !a.optional);

  const notRuledOut = new Set(labels ? filterByLabelChoice(all, labels).map((a) => a.id) : ids);
  const selected = all.filter(
    (a) =>
      ((!only || only.has(a.id)) &&
        (!labels || Object.entries(labels).every(([k, vs]) => Object.hasOwn(a.labels, k) && vs.includes(a.labels[k] as string)))) ||
      (opts.includeOptional === true && a.optional && notRuledOut.has(a.id)),
  );
  if (selected.length === 0) {
    const parts = [only ? `--only ${list(only)}` : '', labels ? `--labels ${formatLabels(labels)}` : ''].filter(Boolean);
    throw new UsageError(`No artifact matches ${parts.join(' and ')}.`, {
      code: 'EEMPTYSELECTION',
      hint: `Each artifact must match every filter. Artifacts: ${all.map((a) => `${a.id}${labelSuffix(a)}`).join(', ')}.`,
    });
  }
  return selected;
}

function formatLabels(labels: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(labels)
    .map(([k, vs]) => `${k}=${vs.join(',')}`)
    .join(' ');
}

function labelSuffix(a: Artifact): string {
  const entries = Object.entries(a.labels);
  return entries.length > 0 ? ` (${entries.map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
}

/**
 * Throw UsageError (code EREQUIRE) unless every `require` rule has at least one
 * of its ids among `selectedIds`. Every failed rule is named in one error.
 */
export function checkRequire(manifest: Pick<Manifest, 'require' | 'artifacts'>, selectedIds: Iterable<string>): void {
  const selected = new Set(selectedIds);
  const failed = manifest.require
    .map((rule, index) => ({ rule, index }))
    .filter(({ rule }) => !rule.anyOf.some((id) => selected.has(id)));
  if (failed.length === 0) return;
  const lines = failed.map(
    ({ rule, index }) => `require[${index}]: select at least one of ${list(rule.anyOf)}, e.g. --only ${rule.anyOf[0] as string}`,
  );
  const current = [...selected];
  const missing = failed.map(({ rule }) => rule.anyOf[0] as string);
  const example = [...current, ...missing].map((id) => `--only ${id}`).join(' ');
  throw new UsageError(
    failed.length === 1
      ? `The selection does not satisfy the manifest's ${lines[0] as string}.`
      : `The selection does not satisfy the manifest's require rules:\n  ${lines.join('\n  ')}`,
    {
      code: 'EREQUIRE',
      hint: `Add one artifact of each listed rule to what you select, e.g. ${example}.`,
      data: { failed: failed.map(({ rule, index }) => ({ index, anyOf: rule.anyOf })), selected: current },
    },
  );
}

/**
 * Parse repeated --labels values into key → values. Accepts `lang=ja`,
 * `lang=ja,en` (values OR-ed) and `lang=ja,role=student` (a piece with "="
 * starts a new key). Repeated keys merge. Throws UsageError on bad syntax.
 */
export function parseLabelFlags(values: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  const bad = (value: string, why: string): never => {
    throw new UsageError(`Bad --labels value "${value}": ${why}.`, {
      code: 'EBADLABEL',
      hint: 'Write key=value, with commas for alternatives: --labels lang=ja or --labels lang=ja,en --labels role=student.',
    });
  };
  for (const value of values) {
    let key: string | undefined;
    for (const rawPiece of value.split(',')) {
      const piece = rawPiece.trim();
      if (piece === '') bad(value, 'empty item');
      const eq = piece.indexOf('=');
      let v: string;
      if (eq >= 0) {
        key = piece.slice(0, eq).trim();
        v = piece.slice(eq + 1).trim();
        if (!LABEL_RE.test(key)) bad(value, key === '' ? 'missing the label name before "="' : `"${key}" is not a label name`);
      } else {
        if (key === undefined) bad(value, 'expected key=value');
        v = piece;
      }
      if (v === '') bad(value, `missing a value after "${key}="`);
      if (!LABEL_RE.test(v)) bad(value, `"${v}" is not a label value`);
      const k = key as string;
      const arr = out[k] ?? (out[k] = []);
      if (!arr.includes(v)) arr.push(v);
    }
  }
  return { ...out };
}

/**
 * Sources in the order to try them: the preferred one first, the rest in
 * manifest order. Throws UsageError for an unknown name.
 */
export function orderSources(sources: readonly ResolvedSource[], prefer?: string): ResolvedSource[] {
  if (prefer === undefined || prefer === '') return [...sources];
  const names = sources.map((s) => s.name);
  const chosen = sources.find((s) => s.name === prefer);
  if (!chosen) {
    throw new UsageError(`Unknown source "${prefer}".`, {
      code: 'EUNKNOWNSOURCE',
      hint: `Sources in the manifest: ${list(names)}.${didYouMean(prefer, names)}`,
      data: { source: prefer, known: names },
    });
  }
  return [chosen, ...sources.filter((s) => s !== chosen)];
}

/**
 * The interactive choice "which languages?": drop the artifacts whose value for
 * an asked key was offered and not chosen. An artifact without that key (a
 * shared tokenizer, a teacher) or with a value the question did not offer (an
 * optional lang=multi teacher: the question lists only the required
 * artifacts' values) is not filtered by it: the optional question, or
 * --include-optional, decides about it.
 */
export function filterByLabelChoice(
  artifacts: readonly Artifact[],
  chosen: Readonly<Record<string, readonly string[]>>,
  /** the values the question listed per key (default: every value counts as offered) */
  offered?: Readonly<Record<string, readonly string[]>>,
): Artifact[] {
  return artifacts.filter((a) =>
    Object.entries(chosen).every(([k, vs]) => {
      const v = Object.hasOwn(a.labels, k) ? (a.labels[k] as string) : undefined;
      return v === undefined || vs.includes(v) || (offered !== undefined && !(offered[k] ?? []).includes(v));
    }),
  );
}

export interface InstalledSetPlan {
  /** what is installed and mounted after the update, in manifest order */
  artifacts: Artifact[];
  /** selected and not installed before */
  added: string[];
  /** installed before, not selected, and staying (no --prune) */
  kept: string[];
  /** installed before, not selected, and leaving the mounted set (--prune) */
  removed: string[];
}

/**
 * What `update` installs: the selection added to what is installed (as `dvc
 * pull <target>` adds to a workspace), or with `prune` exactly the selection.
 * Installed ids the manifest no longer lists are dropped (nothing could mount them).
 */
export function planInstalledSet(
  manifest: Pick<Manifest, 'artifacts'>,
  installedIds: Iterable<string>,
  selected: readonly Artifact[],
  opts: { prune: boolean },
): InstalledSetPlan {
  const installed = new Set(installedIds);
  const chosen = new Set(selected.map((a) => a.id));
  const ids = (keep: (a: Artifact) => boolean) => manifest.artifacts.filter(keep).map((a) => a.id);
  const leftOver = ids((a) => installed.has(a.id) && !chosen.has(a.id));
  return {
    artifacts: manifest.artifacts.filter((a) => chosen.has(a.id) || (!opts.prune && installed.has(a.id))),
    added: ids((a) => chosen.has(a.id) && !installed.has(a.id)),
    kept: opts.prune ? [] : leftOver,
    removed: opts.prune ? leftOver : [],
  };
}
