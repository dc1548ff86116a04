/**
 * What `models:smoke` reports (the JSON of `smoke --json`, and `data.report` of its SmokeError):
 * per service, how the network was taken away, the built-in check's per-artifact results, the
 * app's own command, and every failure with its code and hint.
 */
import type { ComposeEngine } from '../compose/engine.ts';
import type { SmokeFailureCode } from '../errors.ts';

export type FileStatus = 'ok' | 'missing' | 'unreadable' | 'size' | 'sha256' | 'not-checked';

export interface FileResult {
  path: string;
  expectedSize: number;
  actualSize: number | null;
  status: FileStatus;
  sha256: 'match' | 'mismatch' | 'skipped' | 'not-checked';
  detail?: string;
}

export interface ArtifactResult {
  id: string;
  target: string;
  ok: boolean;
  /** the folder exists in the container (null: not reported) */
  exists: boolean | null;
  /** a mount other than the image's root filesystem covers the folder */
  mounted: boolean | null;
  mountPoint?: string;
  mountOptions?: string[];
  readOnly: boolean | null;
  readOnlyEvidence?: string;
  files: FileResult[];
}

export type StepStatus = 'passed' | 'failed' | 'timed-out' | 'error' | 'skipped';

export interface StepResult {
  status: StepStatus;
  containerName?: string;
  exitCode: number | null;
  durationMs: number;
  /** last lines of the container's output (Compose's own progress lines removed) */
  outputTail: string[];
  /** after a timeout: the named container no longer exists */
  containerRemoved?: boolean;
  reason?: string;
}

export interface CheckStepResult extends StepResult {
  full: boolean;
  /** what the image offered for hashing */
  sha256Tool: 'sha256sum' | 'none' | 'unknown';
  artifacts: ArtifactResult[];
}

export interface CommandStepResult extends StepResult {
  argv: string[];
  timeoutSeconds: number;
}

export interface SmokeFailure {
  service: string;
  step: 'setup' | 'check' | 'command';
  code: SmokeFailureCode;
  message: string;
  hint: string;
  artifact?: string;
  file?: string;
}

export interface ServiceReport {
  service: string;
  /** how `network_mode: none` was applied: an extra override, or a copy of the merged config (service declares networks) */
  network: 'override' | 'merged-config' | 'unknown';
  check: CheckStepResult;
  /** null when the manifest has no smoke.command */
  command: CommandStepResult | null;
  warnings: string[];
  failures: SmokeFailure[];
}

export interface SmokeReport {
  ok: boolean;
  runId: string;
  engine: { version: ComposeEngine['version']; command: string[]; fullVersion: string };
  full: boolean;
  /** the Compose files given to every run (without the temporary one) */
  files: string[];
  override: string;
  overrideIncluded: boolean;
  services: ServiceReport[];
  failures: SmokeFailure[];
  durationMs: number;
}

/** One line for a single failure, else the services and a list of every problem (the SmokeError message). */
export function summarizeFailures(failures: SmokeFailure[]): string {
  if (failures.length === 1) return failures[0]!.message;
  const services = [...new Set(failures.map((f) => f.service))].join(', ');
  return `Smoke test failed for ${services} (${failures.length} problems):\n${failures.map((f) => `  - ${f.message.replace(/\n/g, '\n    ')}`).join('\n')}`;
}
