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

export interface ErrorDetails {
  hint?: string;
  cause?: unknown;
  /** Extra machine-readable facts for --json output (must never hold secrets). */
  data?: Record<string, unknown>;
}

export class ModelmountError extends Error {
  readonly code: string;
  readonly exitCode: ExitStatus;
  readonly hint?: string;
  readonly data?: Record<string, unknown>;

  constructor(code: string, exitCode: ExitStatus, message: string, details: ErrorDetails = {}) {
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
  constructor(message: string, details: ErrorDetails & { code?: string } = {}) {
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
  /** false when trying again (or another source) cannot help, e.g. the file is the wrong size on the server */
  readonly retryable: boolean;
  constructor(code: string, message: string, details: ErrorDetails & { retryable?: boolean } = {}) {
    super(code, ExitCode.sources, message, details);
    this.retryable = details.retryable ?? true;
  }
}

export interface SourceAttempt {
  source: string;
  code: string;
  message: string;
  /** the source's own fix (EAUTH: which credential to check), when it named one */
  hint?: string;
}

export class AllSourcesFailedError extends ModelmountError {
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
  constructor(message: string, details: ErrorDetails & { code?: string } = {}) {
    super(details.code ?? 'EDISK', ExitCode.disk, message, details);
  }
}

export class LockError extends ModelmountError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('ELOCKED', ExitCode.lock, message, details);
  }
}

export class ComposeError extends ModelmountError {
  constructor(message: string, details: ErrorDetails & { code?: string } = {}) {
    super(details.code ?? 'ECOMPOSE', ExitCode.compose, message, details);
  }
}

export class SmokeError extends ModelmountError {
  constructor(message: string, details: ErrorDetails & { code?: string } = {}) {
    super(details.code ?? 'ESMOKE', ExitCode.smoke, message, details);
  }
}

/**
 * A question was not answered: Ctrl+C (or a closed terminal) at a prompt exits 130 like any
 * interrupted command, so `modelmount update && docker compose up -d` stops; answering "no" to a
 * confirmation is a choice and exits 0. Either way nothing was changed.
 */
export class CancelledError extends ModelmountError {
  readonly interrupted: boolean;
  constructor(how: 'interrupted' | 'declined' = 'interrupted') {
    super('ECANCELLED', how === 'interrupted' ? ExitCode.interrupted : ExitCode.ok, 'Cancelled: nothing was changed.');
    this.interrupted = how === 'interrupted';
  }
}

/** Map a Node fs error to the right ModelmountError (disk full, permissions) or undefined. */
export function toDiskError(err: unknown, action: string): DiskError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DiskError(`No space left while ${action}.`, {
      code: 'ENOSPC',
      cause: err,
      hint: 'Free some space (or point --cache-dir / hostDir at a bigger disk) and run again; the previous install is untouched.',
    });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new DiskError(`Permission denied while ${action} (${code}).`, {
      code: 'EPERM',
      cause: err,
      hint: 'Make the folder writable for this user, or choose another with --host-dir / --cache-dir.',
    });
  }
  return undefined;
}
