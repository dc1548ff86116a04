/**
 * What a doctor check is: a function of the read-only context runDoctor gathers once, returning
 * its findings — at least one per check, `ok` when nothing is wrong, so `--json` shows what was
 * checked as well as what failed. The checks live in checks/, one file each; run-doctor.ts lists them in report order.
 */
import type { MergedConfig } from '../compose/parse-config.ts';
import type { MountProblem } from '../compose/check-merged-mounts.ts';
import type { ComposeFileMismatch, ComposeFileSetting } from '../compose/compose-file-setting.ts';
import type { ComposeEngine } from '../compose/engine.ts';
import { composeInvocation } from '../compose/invocation.ts';
import type { MountSourceStatus } from '../compose/mount-sources.ts';
import type { ReleaseMounts } from '../compose/override.ts';
import type { InstallRecord } from '../install-record.ts';
import type { Artifact, ComposeSettings, Manifest } from '../manifest/schema.ts';
import type { ModelContainer } from '../releases/containers.ts';
import type { ReleaseRecord } from '../releases/record.ts';
import { commandFor } from '../invocation.ts';
import type { IgnoreVerdict } from './dockerignore.ts';

export type Verdict = 'ok' | 'warn' | 'error';

export interface DoctorFinding {
  id: string;
  verdict: Verdict;
  title: string;
  file?: string;
  line?: number;
  message: string;
  fix?: string;
}

export interface DoctorContext {
  manifest: Manifest;
  compose: ComposeSettings;
  /** the selected artifacts: what the services must have */
  selected: Artifact[];
  /** installed.json, when there is one */
  record?: InstallRecord;
  /** state of each selected artifact's host folder */
  sources: MountSourceStatus[];
  engine?: ComposeEngine;
  /** files given to `config` */
  configFiles: string[];
  /** merged config; undefined when there is no engine or `config` failed */
  merged?: MergedConfig;
  /** why `merged` is undefined */
  mergedUnavailable?: string;
  /** checkMergedMounts(merged, …) */
  mountProblems: MountProblem[];
  /**
   * COMPOSE_FILE, when set (environment, else the project's .env); when it names other files than
   * configFiles, how, and the mount problems of the config merged from its list instead
   */
  composeFile?: { setting: ComposeFileSetting; mismatch?: ComposeFileMismatch; mountProblems: MountProblem[]; checked: boolean; unavailable?: string };
  /** what each build context's ignore file excludes of the selection (read once, used by two checks) */
  ignoreVerdicts: IgnoreVerdict[];
  /** the current releases the override mounts (lib/releases/) */
  releases?: ReleaseMounts;
  releaseRecord?: ReleaseRecord;
  /** containers of the listed services (running and stopped); undefined when Docker was not asked */
  containers?: ModelContainer[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** the run's signal (Ctrl+C): a check waiting on a folder stops at once */
  signal?: AbortSignal;
}

export type DoctorCheck = (ctx: DoctorContext) => DoctorFinding[] | Promise<DoctorFinding[]>;

export const OUTAGE_SYMPTOM = 'RuntimeError: At least one model (JA or EN) must be loaded';

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The fix for a model the services do not get: install (which writes the override), then start Compose with it. */
export function updateFix(ctx: DoctorContext): string {
  return `Run \`${commandFor('update')}\` (it writes the override too), then start Compose with it: ${composeInvocation(ctx.manifest, ctx.engine, { cwd: ctx.cwd }).commandLine} up`;
}

const problemKey = (p: MountProblem) => `${p.kind}\0${p.service}\0${p.artifactId}`;

/** The mount problems of the config merged from COMPOSE_FILE's list that the manifest's own files do not have. */
export function composeFileOnlyProblems(ctx: DoctorContext): MountProblem[] {
  const own = new Set(ctx.mountProblems.map(problemKey));
  return (ctx.composeFile?.mountProblems ?? []).filter((p) => !own.has(problemKey(p)));
}
