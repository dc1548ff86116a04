/**
 * `models:doctor`: gather the facts once (installed.json, host folders, the
 * merged Compose config when an engine answers), then run every check.
 * Read-only: nothing on disk is changed (the verified-state cache aside).
 */
import path from 'node:path';
import type { Shell } from 'zx';
import { loadShell } from '../shell.ts';
import { checkMergedMounts } from '../compose/check-merged-mounts.ts';
import { parseComposeConfig, type MergedConfig } from '../compose/parse-config.ts';
import { profileArgs, runComposeConfig } from '../compose/run-config.ts';
import { compareComposeFileSetting, readProjectComposeFile } from '../compose/compose-file-setting.ts';
import { composeInputs, type ComposeInputs } from '../compose/compose-inputs.ts';
import { detectCompose, type ComposeEngine } from '../compose/engine.ts';
import { inspectMountSources } from '../compose/mount-sources.ts';
import { existingComposeFiles } from '../compose/override.ts';
import { ComposeError, ExitCode, ModelmountError } from '../errors.ts';
import { readInstallRecord } from '../install-record.ts';
import type { Artifact, Manifest } from '../manifest/schema.ts';
import { listModelContainers } from '../releases/containers.ts';
import { readReleaseRecord, releaseMountsOf } from '../releases/record.ts';
import type { DoctorCheck, DoctorContext, DoctorFinding } from './check.ts';
import { checkAutoOverride } from './checks/auto-override.ts';
import { checkComposeEngine } from './checks/compose-engine.ts';
import { checkDockerignore } from './checks/dockerignore-excludes.ts';
import { checkKeptVersions } from './checks/kept-versions.ts';
import { checkMergedMountFindings } from './checks/merged-mounts.ts';
import { checkMountSourceFindings } from './checks/mount-sources.ts';
import { checkOverrideIncluded } from './checks/override-included.ts';
import { checkComposeFileMismatch } from './checks/compose-file-mismatch.ts';
import { checkOverrideStale } from './checks/override-stale.ts';
import { checkReleaseBinding } from './checks/release-binding.ts';
import { checkRequire } from './checks/require.ts';
import { checkSymlinks } from './checks/symlink-escapes.ts';
import { readIgnoreVerdicts } from './dockerignore.ts';

/** Every check, in the order of the report. */
const CHECKS: readonly DoctorCheck[] = [
  checkComposeEngine,
  checkDockerignore,
  checkMergedMountFindings,
  checkMountSourceFindings,
  checkSymlinks,
  checkOverrideStale,
  checkOverrideIncluded,
  checkComposeFileMismatch,
  checkAutoOverride,
  checkRequire,
  checkReleaseBinding,
  checkKeptVersions,
];

/** The selected artifacts, however the caller holds them. */
export type SelectionLike = readonly Artifact[] | readonly string[] | { artifacts: readonly Artifact[] };

export function selectedArtifacts(manifest: Manifest, selection: SelectionLike): Artifact[] {
  const list: readonly (Artifact | string)[] = Array.isArray(selection) ? selection : (selection as { artifacts: readonly Artifact[] }).artifacts;
  const ids = new Set(list.map((x) => (typeof x === 'string' ? x : x.id)));
  return manifest.artifacts.filter((a) => ids.has(a.id));
}

export interface RunDoctorOptions {
  /** the engine to use; `undefined` → detect one; `null` → none (skip the merged-config checks) */
  engine?: ComposeEngine | null;
  $?: Shell;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** re-hash every file instead of trusting the verified-state cache */
  full?: boolean;
  jobs?: number;
  /** the run's signal (Ctrl+C) */
  signal?: AbortSignal;
  /** the run's reads of the Compose files and .env (bootstrap's, after its update); default: a new one */
  inputs?: ComposeInputs;
}

export async function runDoctor(manifest: Manifest, selection: SelectionLike, opts: RunDoctorOptions = {}): Promise<DoctorFinding[]> {
  const compose = manifest.compose;
  if (!compose) {
    return [
      {
        id: 'compose-settings-missing',
        verdict: 'error',
        title: 'The manifest has no compose: section',
        file: manifest.path,
        message: `${manifest.path} does not say which Compose services need the models, so nothing can be checked.`,
        fix: 'Add `compose: {files: [...], services: [...], override: ..., containerDir: ...}` to the manifest (see the README).',
      },
    ];
  }
  const sh = opts.$ ?? (await loadShell());
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const selected = selectedArtifacts(manifest, selection);
  const record = await readInstallRecord(manifest.hostDir, manifest.path, { signal: opts.signal });
  const releaseRecord = await readReleaseRecord(manifest.hostDir, manifest.path, { signal: opts.signal });
  const releases = releaseMountsOf(manifest.hostDir, releaseRecord, selected);
  const sources = await inspectMountSources(manifest, selected, { full: opts.full, jobs: opts.jobs, releases, signal: opts.signal });

  let engine: ComposeEngine | undefined;
  let mergedUnavailable: string | undefined;
  if (opts.engine === undefined) {
    try {
      engine = await detectCompose({ $: sh, env, cwd });
    } catch (err) {
      mergedUnavailable = err instanceof ModelmountError ? err.message : String(err);
    }
  } else engine = opts.engine ?? undefined;

  const configFiles = await existingComposeFiles(compose, { signal: opts.signal });
  // what a plain `docker compose` reads when COMPOSE_FILE names other files: its mounts are checked too
  // the Compose files and .env are read once, for COMPOSE_FILE and the profiles of both `config` runs
  const inputs = opts.inputs ?? composeInputs({ signal: opts.signal });
  const setting = await readProjectComposeFile(compose, { env, cwd, inputs });
  const mismatch = setting && compareComposeFileSetting(setting, compose);
  const checkTheirs = Boolean(setting && mismatch && engine && setting.files.includes(path.resolve(compose.override)));
  const mergeFiles = async (files: string[]): Promise<{ merged?: MergedConfig; unavailable?: string }> => {
    if (!engine) return {};
    // a stall or an abort reading the files ends the run (outside the try: it is no Compose failure)
    const profiles = await profileArgs(inputs, files, compose.services, env);
    try {
      return { merged: parseComposeConfig(await runComposeConfig(engine, files, { cwd: path.dirname(files[0] ?? manifest.path), $: sh, profileArgs: profiles, env, signal: opts.signal })) };
    } catch (err) {
      // what Compose refuses is a finding; a stall or an abort ends the run
      if (!(err instanceof ComposeError) || opts.signal?.aborted) throw err;
      return { unavailable: (err.data?.stderr as string | undefined) ?? err.message };
    }
  };
  const own = await mergeFiles(configFiles);
  const merged = own.merged;
  mergedUnavailable ??= own.unavailable;

  let composeFile: DoctorContext['composeFile'];
  if (setting) {
    composeFile = { setting, ...(mismatch ? { mismatch } : {}), mountProblems: [], checked: false };
    if (checkTheirs) {
      const theirs = await mergeFiles(setting.files);
      if (theirs.merged) Object.assign(composeFile, { checked: true, mountProblems: checkMergedMounts(theirs.merged, manifest, selected, releases) });
      else composeFile.unavailable = theirs.unavailable;
    }
  }

  const ctx: DoctorContext = {
    manifest,
    compose,
    selected,
    record,
    sources,
    engine,
    configFiles,
    merged,
    mergedUnavailable,
    mountProblems: merged ? checkMergedMounts(merged, manifest, selected, releases) : [],
    ...(composeFile ? { composeFile } : {}),
    ignoreVerdicts: await readIgnoreVerdicts({ manifest, compose, merged, selected }),
    releases,
    releaseRecord,
    containers: engine && releaseRecord ? await listModelContainers(manifest, engine, sh({ quiet: true, nothrow: true, env, cwd }), releaseRecord, { signal: opts.signal }).catch((err: unknown) => {
      if (err instanceof ModelmountError || opts.signal?.aborted) throw err; // a stall or an abort ends the run
      return undefined;
    }) : undefined,
    env,
    cwd,
    signal: opts.signal,
  };
  const findings: DoctorFinding[] = [];
  for (const check of CHECKS) findings.push(...(await check(ctx)));
  return findings;
}

/** 7 when any finding is an error, else 0. */
export function doctorExitCode(findings: readonly DoctorFinding[]): number {
  return findings.some((f) => f.verdict === 'error') ? ExitCode.compose : ExitCode.ok;
}
