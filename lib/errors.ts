/**
 * Every failure modelmount reports on purpose is a ModelmountError with a stable
 * `code`, a `hint` that names the fix, and the process exit status it maps to.
 * Anything else that escapes is an internal bug (exit 1).
 */
import { commandFor } from './invocation.ts';

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  sources: 3,
  integrity: 4,
  disk: 5,
  lock: 6,
  compose: 7,
  smoke: 8,
  interrupted: 130,
} as const;
export type ExitStatus = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Every `code` each error class may carry: one list per class, so a code a throw site invents
 * fails to type-check. The README's "Error codes" table says what each means and what to do;
 * test/error-codes.test.ts fails when the two differ. A code never reuses a Node errno name
 * for another meaning (a missing file is EMISSING: Node's ENOTFOUND is a failed DNS lookup).
 */
/** one per failed check in a smoke report (`failures[].code`) */
const SMOKE_FAILURE_CODES = [
  'ESMOKE_COMPOSE', 'ESMOKE_NO_SERVICE', 'ESMOKE_CHECK_ERROR', 'ESMOKE_NOT_MOUNTED', 'ESMOKE_WRITABLE', 'ESMOKE_FILE_MISSING',
  'ESMOKE_UNREADABLE', 'ESMOKE_SIZE', 'ESMOKE_SHA256', 'ESMOKE_COMMAND_FAILED', 'ESMOKE_TIMEOUT', 'ESMOKE_NO_SHELL',
] as const;

export const ERROR_CODES = {
  ModelmountError: ['EINTERNAL'],
  UsageError: [
    'EUSAGE', 'EUNEXPECTEDARG', 'ENOMANIFEST', 'EMANIFESTSIZE', 'EMANIFEST', 'EUNKNOWNID', 'EUNKNOWNLABEL', 'EBADLABEL',
    'EUNKNOWNSOURCE', 'EEMPTYSELECTION', 'EREQUIRE', 'EPRUNECONFIRM', 'ENOFOLDER', 'EEMPTYFOLDER', 'EUNSAFEFOLDER',
    'EFOLDER', 'ECHANGED', 'EEXIST', 'ENOFILE', 'ENOCOMPOSE', 'ENORELEASE', 'ENOROLLBACK', 'ENOHOME',
  ],
  ManifestError: ['EMANIFEST'],
  SourceError: [
    'EMISSING', 'EDNS', 'EAUTH', 'ENOTOKEN', 'ENOCREDS', 'EREGION', 'EHTTP', 'ES3', 'ESIZE', 'ESHORT', 'EBADRANGE',
    'ETRUNCATED', 'ETIMEDOUT', 'ESTALLED', 'ECONNREFUSED', 'ECONNRESET', 'ENETWORK', 'ETLS', 'EPROXY', 'EREDIRECT',
    'EABORTED', 'ENOROOT', 'ESYMLINK', 'ENOTFILE', 'EOUTSIDE', 'ENOREF', 'EMANIFEST', 'EDIGEST', 'ELAYER', 'EENCODING',
    'EPUSH',
  ],
  AllSourcesFailedError: ['ESOURCES'],
  IntegrityError: ['EINTEGRITY'],
  DiskError: ['EDISK', 'ENOSPC', 'EPERM', 'EMKDIR', 'ENOTREALDIR', 'ENOTFILE', 'ESTALLED', 'ESTORE', 'ERELEASE_MISSING'],
  LockError: ['ELOCKED'],
  ComposeError: [
    'ECOMPOSE', 'ENOCOMPOSE', 'ECOMPOSE_ENGINE', 'ECOMPOSE_NOTFILE', 'ECOMPOSE_CONFIG', 'ECOMPOSE_FILES', 'EMERGED_MOUNTS', 'EOVERRIDE_FOREIGN',
    'EMOUNT_SOURCE', 'EMOUNT_SOURCE_MISSING', 'EMOUNT_SOURCE_SYMLINK', 'EMOUNT_SOURCE_NOT_DIRECTORY', 'EMOUNT_SOURCE_EMPTY',
    'EMOUNT_SOURCE_UNVERIFIED', 'ESWARM_ENGINE', 'ESWARM_NOT_MANAGER', 'ESWARM_NODES', 'ESWARM_LABEL', 'ESWARM_JOB',
    'ESWARM_SERVICES',
  ],
  SmokeError: [
    'ESMOKE', 'ENOENGINE', 'ESMOKE_ABORTED', 'EAPPLY_HEALTH', 'ESWARM_NO_NODES',
    // the error takes its failures' code when they all share one
    ...SMOKE_FAILURE_CODES,
  ],
  CancelledError: ['ECANCELLED'],
  DependencyError: ['EDEPENDENCY'],
} as const;

/** an unexpected failure reported as a bug (exit 1) */
export type InternalErrorCode = (typeof ERROR_CODES.ModelmountError)[number];
export type UsageErrorCode = (typeof ERROR_CODES.UsageError)[number];
export type ManifestErrorCode = (typeof ERROR_CODES.ManifestError)[number];
/** Node's own code for an I/O error, passed on with Node's meaning (see `nodeErrorCode`). */
export type NodeErrorCode = string & { readonly nodeErrorCode: true };
export type SourceErrorCode = (typeof ERROR_CODES.SourceError)[number] | NodeErrorCode;
export type AllSourcesFailedErrorCode = (typeof ERROR_CODES.AllSourcesFailedError)[number];
export type IntegrityErrorCode = (typeof ERROR_CODES.IntegrityError)[number];
export type DiskErrorCode = (typeof ERROR_CODES.DiskError)[number];
export type LockErrorCode = (typeof ERROR_CODES.LockError)[number];
export type ComposeErrorCode = (typeof ERROR_CODES.ComposeError)[number];
export type SmokeErrorCode = (typeof ERROR_CODES.SmokeError)[number];
export type SmokeFailureCode = (typeof SMOKE_FAILURE_CODES)[number];
export type CancelledErrorCode = (typeof ERROR_CODES.CancelledError)[number];
export type DependencyErrorCode = (typeof ERROR_CODES.DependencyError)[number];
export type ErrorCode =
  | InternalErrorCode
  | UsageErrorCode
  | ManifestErrorCode
  | SourceErrorCode
  | AllSourcesFailedErrorCode
  | IntegrityErrorCode
  | DiskErrorCode
  | LockErrorCode
  | ComposeErrorCode
  | SmokeErrorCode
  | CancelledErrorCode
  | DependencyErrorCode;

/**
 * Codes that --json output carries outside any error class: an interrupted run's, a source
 * attempt's (EOFFLINE), warm's and a Swarm node's report entries.
 */
export const REPORT_CODES = [
  'EINTERRUPTED', 'EOFFLINE', 'ENOTINSTORE', 'EUPDATE', 'ESWARM_NO_TASK', 'ESWARM_REJECTED', 'ESWARM_TIMEOUT', 'ESWARM_TASK',
] as const;
export type ReportCode = (typeof REPORT_CODES)[number];

/**
 * The code of an unexpected I/O error as Node names it (`EACCES`, `EISDIR`,
 * `ERR_STREAM_PREMATURE_CLOSE`…), `EIO` when it has none: a SourceError with Node's meaning.
 */
export function nodeErrorCode(err: unknown): NodeErrorCode {
  const code = (err as { code?: unknown } | undefined)?.code;
  return (typeof code === 'string' ? code : 'EIO') as NodeErrorCode;
}

export interface ErrorDetails {
  hint?: string;
  cause?: unknown;
  /** Extra machine-readable facts for --json output (must never hold secrets). */
  data?: Record<string, unknown>;
}

export class ModelmountError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitStatus;
  readonly hint?: string;
  readonly data?: Record<string, unknown>;

  constructor(code: ErrorCode, exitCode: ExitStatus, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = details.hint;
    this.data = details.data;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, ...(this.data ? { data: this.data } : {}) };
  }
}

/** Bad flags, bad manifest, impossible selection. */
export class UsageError extends ModelmountError {
  declare readonly code: UsageErrorCode;
  constructor(message: string, details: ErrorDetails & { code?: UsageErrorCode } = {}) {
    super(details.code ?? 'EUSAGE', ExitCode.usage, message, details);
  }
}

export interface ManifestProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted path into the document, e.g. artifacts[0].files[2].sha256 */
  where: string;
  message: string;
  fix: string;
}

export class ManifestError extends ModelmountError {
  declare readonly code: ManifestErrorCode;
  readonly problems: ManifestProblem[];
  constructor(problems: ManifestProblem[]) {
    const lines = problems.map((p) => `  ${p.file}:${p.line}:${p.column} ${p.where}: ${p.message}\n      fix: ${p.fix}`);
    super(
      'EMANIFEST',
      ExitCode.usage,
      `The manifest has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${lines.join('\n')}`,
      { hint: `Fix every listed line, then run \`${commandFor('manifest check')}\` (or the command again).`, data: { problems } },
    );
    this.problems = problems;
  }
}

/** One source failed for one file; collected into AllSourcesFailedError. */
export class SourceError extends ModelmountError {
  declare readonly code: SourceErrorCode;
  /** false when trying again (or another source) cannot help, e.g. the file is the wrong size on the server */
  readonly retryable: boolean;
  constructor(code: SourceErrorCode, message: string, details: ErrorDetails & { retryable?: boolean } = {}) {
    super(code, ExitCode.sources, message, details);
    this.retryable = details.retryable ?? true;
  }
}

export interface SourceAttempt {
  source: string;
  /** the source's SourceErrorCode, EINTEGRITY for bytes that did not match, EOFFLINE for a file --offline lacks */
  code: SourceErrorCode | IntegrityErrorCode | Extract<ReportCode, 'EOFFLINE'>;
  message: string;
  /** the source's own fix (EAUTH: which credential to check), when it named one */
  hint?: string;
}

export class AllSourcesFailedError extends ModelmountError {
  declare readonly code: AllSourcesFailedErrorCode;
  constructor(file: string, attempts: SourceAttempt[], hint?: string) {
    const list = attempts.map((a) => `  - ${a.source}: ${a.message} [${a.code}]`).join('\n');
    super('ESOURCES', ExitCode.sources, `Could not get ${file} from any source:\n${list}`, {
      hint:
        hint ??
        ([...new Set(attempts.map((a) => a.hint).filter((h): h is string => Boolean(h)))].join(' ') ||
          'Check the sources in the manifest (network, credentials in tokenEnv, folder paths), or pick one with --source.'),
      data: { file, attempts },
    });
  }
}

export class IntegrityError extends ModelmountError {
  declare readonly code: IntegrityErrorCode;
  constructor(file: string, expected: { size: number; sha256: string }, actual: { size: number; sha256?: string }, source?: string, hint?: string) {
    const what =
      actual.size !== expected.size
        ? `size ${actual.size} bytes, expected ${expected.size}`
        : `sha256 ${actual.sha256}, expected ${expected.sha256}`;
    super('EINTEGRITY', ExitCode.integrity, `${file}${source ? ` from ${source}` : ''} does not match the manifest: ${what}`, {
      hint: hint ?? `The source holds different bytes than the manifest describes; nothing of this artifact was installed. Fix the source or update the manifest entry (${commandFor('manifest add')}).`,
      data: { file, expected, actual, ...(source ? { source } : {}) },
    });
  }
}

export class DiskError extends ModelmountError {
  declare readonly code: DiskErrorCode;
  constructor(message: string, details: ErrorDetails & { code?: DiskErrorCode } = {}) {
    super(details.code ?? 'EDISK', ExitCode.disk, message, details);
  }
}

export class LockError extends ModelmountError {
  declare readonly code: LockErrorCode;
  constructor(message: string, details: ErrorDetails = {}) {
    super('ELOCKED', ExitCode.lock, message, details);
  }
}

export class ComposeError extends ModelmountError {
  declare readonly code: ComposeErrorCode;
  constructor(message: string, details: ErrorDetails & { code?: ComposeErrorCode } = {}) {
    super(details.code ?? 'ECOMPOSE', ExitCode.compose, message, details);
  }
}

/** `code` is a SmokeErrorCode, or (`afterApply`) the code of the failure an apply switched back from. */
export class SmokeError extends ModelmountError {
  constructor(message: string, details: ErrorDetails & { code?: SmokeErrorCode } = {}) {
    super(details.code ?? 'ESMOKE', ExitCode.smoke, message, details);
  }

  /** A new release set failed after recreation with `failure` (any code, kept for --json): exit 8. */
  static afterApply(failure: ModelmountError, message: string, details: ErrorDetails = {}): SmokeError {
    const err = new SmokeError(message, details);
    (err as { code: ErrorCode }).code = failure.code;
    return err;
  }
}

/**
 * A question was not answered: Ctrl+C (or a closed terminal) at a prompt exits 130 like any
 * interrupted command, so `modelmount update && docker compose up -d` stops; answering "no" to a
 * confirmation is a choice and exits 0. Either way nothing was changed.
 */
export class CancelledError extends ModelmountError {
  declare readonly code: CancelledErrorCode;
  readonly interrupted: boolean;
  constructor(how: 'interrupted' | 'declined' = 'interrupted') {
    super('ECANCELLED', how === 'interrupted' ? ExitCode.interrupted : ExitCode.ok, 'Cancelled: nothing was changed.');
    this.interrupted = how === 'interrupted';
  }
}

/**
 * This installation of modelmount is broken: one of its own runtime dependencies cannot be loaded
 * (lib/import-dependency.ts). Not a source's failure nor a bug, and no retry helps: reinstalling does.
 */
export class DependencyError extends ModelmountError {
  declare readonly code: DependencyErrorCode;
  constructor(pkg: string, cause: unknown) {
    const e = cause as { code?: unknown; name?: unknown; message?: unknown } | undefined;
    const why = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
    const detail = String(e?.message ?? cause).split('\n')[0]!.slice(0, 300);
    super('EDEPENDENCY', ExitCode.internal, `modelmount cannot load ${pkg}, one of its own dependencies: its installation is incomplete or damaged (${why}: ${detail}).`, {
      hint: 'Reinstall modelmount: `npm install -D modelmount` in your project (in a clone of its repository: `npm ci`).',
      cause,
      data: { package: pkg, cause: why },
    });
  }
}
