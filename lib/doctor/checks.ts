/**
 * `models:doctor` checks. Each takes the same read-only context (gathered once
 * by runDoctor) and returns its findings: at least one per check, `ok` when
 * nothing is wrong, so `--json` shows what was checked as well as what failed.
 */
import dockerignoreModule from '@balena/dockerignore';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { findCoveringMount, type MergedConfig, type MountProblem } from '../compose/config.ts';
import type { ComposeEngine } from '../compose/engine.ts';
import {
  composeInvocation,
  parseOverrideHeader,
  readTextIfExists,
  renderOverride,
  EXPECTS_LABEL,
  type ReleaseMounts,
  type MountSourceStatus,
} from '../compose/override.ts';
import type { ModelContainer } from '../releases/containers.ts';
import { currentSet, type ReleaseRecord, type ReleaseSet } from '../releases/record.ts';
import type { InstallRecord } from '../install-record.ts';
import { artifactDir, containerPathOf } from '../layout.ts';
import { formatCommandLine } from '../shell.ts';
import type { Artifact, ComposeSettings, Manifest } from '../manifest/schema.ts';
import { locateEnv, locateKey, locateService, locateVolume, readIncludes } from './locate.ts';
import { commandFor } from '../invocation.ts';
import { isSameOrInside, relativeInside } from '../path-inside.ts';

// CommonJS module: Node hands ESM the function itself, TypeScript (NodeNext) sees `{ default }`; the package sets both.
const dockerignore = dockerignoreModule.default;

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
  /** the current releases the override mounts (lib/releases/) */
  releases?: ReleaseMounts;
  releaseRecord?: ReleaseRecord;
  /** containers of the listed services (running and stopped); undefined when Docker was not asked */
  containers?: ModelContainer[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export const OUTAGE_SYMPTOM = 'RuntimeError: At least one model (JA or EN) must be loaded';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function updateFix(ctx: DoctorContext): string {
  return `Run \`${commandFor('update')}\` (it writes the override too), then start Compose with it: ${composeInvocation(ctx.manifest, ctx.engine, { cwd: ctx.cwd }).commandLine} up`;
}

// ---------------------------------------------------------------------------
// compose-engine-missing / compose-config-invalid

export const MERGED_CHECKS = 'dockerignore-excludes-artifacts (mount part), mount-missing, mount-writable, mount-source-mismatch, env-mismatch';

export function checkComposeEngine(ctx: DoctorContext): DoctorFinding[] {
  if (!ctx.engine) {
    return [
      {
        id: 'compose-engine-missing',
        verdict: 'warn',
        title: 'No Compose found: the merged-config checks were skipped',
        message: `Neither \`docker compose\` nor \`docker-compose\` answered${ctx.mergedUnavailable ? ` (${ctx.mergedUnavailable})` : ''}, so modelmount could not ask Compose what it will mount. Skipped: ${MERGED_CHECKS}. Nothing was inferred from reading the Compose files alone.`,
        fix: 'Install Docker Compose v2 (the `docker compose` plugin) or docker-compose, or set MODELS_COMPOSE to the command, and run doctor again.',
      },
    ];
  }
  if (!ctx.merged) {
    return [
      {
        id: 'compose-config-invalid',
        verdict: 'error',
        title: 'Compose rejects the project files',
        file: ctx.configFiles[ctx.configFiles.length - 1],
        message: `${formatCommandLine([...ctx.engine.command, ...ctx.configFiles.flatMap((f) => ['-f', f]), 'config'])} failed, so nothing about the mounts could be checked:\n${ctx.mergedUnavailable ?? ''}`,
        fix: `Fix the file Compose names above. If it is the generated override, regenerate it with \`${commandFor('compose')}\` instead of editing it.`,
      },
    ];
  }
  return [
    {
      id: 'compose-engine-missing',
      verdict: 'ok',
      title: `Compose ${ctx.engine.fullVersion} (${ctx.engine.command.join(' ')}) merges the project files`,
      message: `Checked the merged result of ${ctx.configFiles.map((f) => path.relative(ctx.cwd, f) || f).join(', ')}.`,
    },
  ];
}

// ---------------------------------------------------------------------------
// dockerignore-excludes-artifacts

export interface DockerignoreMatch {
  excluded: boolean;
  /** 1-based line of the pattern that decides (last match wins) */
  line?: number;
  pattern?: string;
  /** the context-relative path that matched */
  path?: string;
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/**
 * Is `relPaths` (context-relative POSIX paths, no trailing slash) excluded by
 * the `.dockerignore` text, and which line decides? Docker semantics via
 * @balena/dockerignore (`ignorecase: false`): anchored at the context root,
 * `**` any depth, `!` exceptions, last match wins, case-sensitive; a path is
 * excluded when one of its parents is.
 */
export function matchDockerignore(text: string, relPaths: readonly string[]): DockerignoreMatch {
  const lines = text.split(/\r?\n/);
  const patterns: { line: number; pattern: string; negated: boolean; body: string }[] = [];
  lines.forEach((raw, i) => {
    const pattern = raw.trim();
    if (pattern === '' || pattern.startsWith('#')) return;
    const negated = pattern.startsWith('!');
    patterns.push({ line: i + 1, pattern, negated, body: negated ? pattern.slice(1).trim() : pattern });
  });
  const all = dockerignore({ ignorecase: false }).add(patterns.map((p) => p.pattern));
  for (const rel of relPaths) {
    if (!all.ignores(rel)) continue;
    let decisive: (typeof patterns)[number] | undefined;
    for (const p of patterns) {
      if (p.body === '') continue;
      if (dockerignore({ ignorecase: false }).add(p.body).ignores(rel)) decisive = p;
    }
    return { excluded: true, line: decisive && !decisive.negated ? decisive.line : undefined, pattern: decisive?.pattern, path: rel };
  }
  return { excluded: false };
}

interface BuildContext {
  dir: string;
  /** the ignore file that applies: <Dockerfile>.dockerignore (BuildKit) if present, else <context>/.dockerignore */
  ignoreFile: string;
  services: string[];
}

async function buildContexts(ctx: DoctorContext): Promise<BuildContext[]> {
  const byDir = new Map<string, BuildContext>();
  const add = async (dir: string, dockerfile: string | undefined, service: string | undefined) => {
    let ignoreFile = path.join(dir, '.dockerignore');
    if (dockerfile) {
      const specific = `${path.resolve(dir, dockerfile)}.dockerignore`;
      if ((await readTextIfExists(specific)) !== undefined) ignoreFile = specific;
    }
    const key = `${dir}\0${ignoreFile}`;
    const entry = byDir.get(key) ?? { dir, ignoreFile, services: [] };
    if (service && !entry.services.includes(service)) entry.services.push(service);
    byDir.set(key, entry);
  };
  let fromServices = false;
  for (const service of ctx.compose.services) {
    const svc = ctx.merged?.get(service);
    if (svc?.buildContext && !/^[a-z]+:\/\//i.test(svc.buildContext) && !svc.buildContext.startsWith('git@')) {
      await add(path.resolve(path.dirname(ctx.compose.files[0] ?? ctx.manifest.path), svc.buildContext), svc.dockerfile, service);
      fromServices = true;
    }
  }
  if (!fromServices) await add(ctx.compose.context, undefined, undefined);
  return [...byDir.values()];
}

export async function checkDockerignore(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const findings: DoctorFinding[] = [];
  const id = 'dockerignore-excludes-artifacts';
  for (const bc of await buildContexts(ctx)) {
    const text = await readTextIfExists(bc.ignoreFile);
    if (text === undefined) {
      findings.push({ id, verdict: 'ok', title: `No ${path.basename(bc.ignoreFile)} in the build context`, file: bc.ignoreFile, message: `${bc.dir} has no ${path.basename(bc.ignoreFile)}: nothing is excluded from the image by it.` });
      continue;
    }
    const services = bc.services.length > 0 ? bc.services : ctx.compose.services;
    let excludedCount = 0;
    for (const a of ctx.selected) {
      const dir = artifactDir(ctx.manifest.hostDir, a.id);
      const rel = relativeInside(bc.dir, dir);
      if (!rel) continue; // outside this context: the mount checks decide
      const relDir = toPosix(rel);
      const match = matchDockerignore(text, [relDir, ...a.files.map((f) => `${relDir}/${f.path}`)]);
      if (!match.excluded) continue;
      excludedCount++;
      const target = containerPathOf(ctx.compose.containerDir, a.id);
      const why = `${a.id} (${match.path}) is excluded from the build context by ${path.basename(bc.ignoreFile)}${match.line ? ` line ${match.line} (\`${match.pattern}\`)` : ''}, so the image does not contain it`;
      if (!ctx.merged) {
        findings.push({
          id,
          verdict: 'warn',
          title: `${a.id} is excluded from the image; whether a mount provides it was not checked`,
          file: bc.ignoreFile,
          line: match.line,
          message: `${why}. Without Compose, modelmount could not check that a read-only mount provides it at ${target} (skipped, see compose-engine-missing).`,
          fix: 'Install Docker Compose (or set MODELS_COMPOSE) and run doctor again.',
        });
        continue;
      }
      const uncovered = services.filter((s) => {
        const svc = ctx.merged!.get(s);
        const cover = svc && findCoveringMount(svc.mounts, target);
        return !cover || cover.mount.type !== 'bind';
      });
      if (uncovered.length > 0) {
        findings.push({
          id,
          verdict: 'error',
          title: `${a.id} is excluded by .dockerignore AND not mounted: the container will start without it`,
          file: bc.ignoreFile,
          line: match.line,
          message: `${why}, and no Compose volume mounts it read-only at ${target} in ${uncovered.join(', ')}. This is the outage modelmount exists to prevent: the app finds no model at start-up (e.g. \`${OUTAGE_SYMPTOM}\`).`,
          fix: updateFix(ctx),
        });
      } else {
        findings.push({
          id,
          verdict: 'ok',
          title: `${a.id} is excluded from the image and mounted instead`,
          file: bc.ignoreFile,
          line: match.line,
          message: `${why}; the merged Compose config mounts it at ${target} in ${services.join(', ')} (that is intended: models stay out of images).`,
        });
      }
    }
    if (excludedCount === 0) {
      findings.push({ id, verdict: 'ok', title: `${path.basename(bc.ignoreFile)} excludes no artifact`, file: bc.ignoreFile, message: `No selected artifact is excluded from ${bc.dir} by ${bc.ignoreFile}.` });
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------
// mount-missing, mount-writable, mount-source-mismatch, env-mismatch (merged config)

/** `${service}\0${artifactId}` for every artifact a service's build context excludes. */
async function excludedPairs(ctx: DoctorContext): Promise<Set<string>> {
  const pairs = new Set<string>();
  for (const bc of await buildContexts(ctx)) {
    const text = await readTextIfExists(bc.ignoreFile);
    if (text === undefined) continue;
    for (const a of ctx.selected) {
      const rel = relativeInside(bc.dir, artifactDir(ctx.manifest.hostDir, a.id));
      if (!rel) continue;
      const relDir = toPosix(rel);
      if (!matchDockerignore(text, [relDir, ...a.files.map((f) => `${relDir}/${f.path}`)]).excluded) continue;
      for (const s of bc.services.length > 0 ? bc.services : ctx.compose.services) pairs.add(`${s}\0${a.id}`);
    }
  }
  return pairs;
}

export async function checkMergedMountFindings(ctx: DoctorContext): Promise<DoctorFinding[]> {
  if (!ctx.merged) return [];
  const files = ctx.configFiles;
  const excluded = await excludedPairs(ctx);
  const findings: DoctorFinding[] = [];
  const seen = new Set<string>();
  const ids = { missing: 'mount-missing', writable: 'mount-writable', mismatch: 'mount-source-mismatch', env: 'env-mismatch' };
  for (const p of ctx.mountProblems) {
    switch (p.kind) {
      case 'service-missing':
      case 'not-mounted':
      case 'not-bind': {
        if (p.kind === 'not-mounted' && excluded.has(`${p.service}\0${p.artifactId}`)) break; // reported by dockerignore-excludes-artifacts
        const loc = p.kind === 'service-missing' ? undefined : await locateService(files, p.service);
        findings.push({
          id: ids.missing,
          verdict: 'error',
          title: `${p.artifactId} is not mounted in ${p.service}`,
          ...loc,
          message: `${p.message} The container gets whatever its image happens to hold, which modelmount cannot vouch for.`,
          fix: p.kind === 'service-missing' ? `Check \`compose.services\` in ${ctx.manifest.path}: ${p.service} must be a service of ${ctx.compose.files.join(', ')}.` : updateFix(ctx),
        });
        break;
      }
      case 'writable': {
        const key = `w:${p.service}:${p.mount?.target}`;
        if (seen.has(key)) break;
        seen.add(key);
        const loc = p.mount ? await locateVolume(files, p.service, p.mount.target) : undefined;
        findings.push({
          id: ids.writable,
          verdict: 'error',
          title: `${p.artifactId} is mounted writable in ${p.service}`,
          ...loc,
          message: p.message,
          fix: loc && loc.file !== ctx.compose.override
            ? `Make that volume read-only (\`:ro\` or \`read_only: true\`), or remove it and let the override mount ${p.target}.`
            : `Regenerate the override with \`${commandFor('compose')}\`.`,
        });
        break;
      }
      case 'duplicate-mount': {
        // point at the user's entry, not at the override's
        const loc = (await locateVolume(files.filter((f) => f !== ctx.compose.override), p.service, p.target)) ?? (await locateVolume(files, p.service, p.target));
        findings.push({
          id: 'mount-duplicate',
          verdict: 'error',
          title: `${p.artifactId} is mounted twice in ${p.service}`,
          ...loc,
          message: p.message,
          fix: `Remove the other volume at ${p.target} (often the same path with a trailing "/"): the override mounts it.`,
        });
        break;
      }
      case 'source-mismatch': {
        const loc = p.mount ? await locateVolume(files, p.service, p.mount.target) : undefined;
        findings.push({
          id: ids.mismatch,
          verdict: 'error',
          title: `${p.artifactId} is mounted from another folder in ${p.service}`,
          ...loc,
          message: p.message,
          fix: `Remove that volume, or make it mount ${p.expectedSource}; then regenerate the override with \`${commandFor('compose')}\`.`,
        });
        break;
      }
      case 'env-missing':
      case 'env-mismatch': {
        const loc = p.env ? (await locateEnv(files, p.service, p.env)) ?? (await locateService(files, p.service)) : undefined;
        findings.push({
          id: ids.env,
          // missing: the app may fall back to its own default path; pointing elsewhere is wrong for sure
          verdict: p.kind === 'env-mismatch' ? 'error' : 'warn',
          title: `${p.env} does not point at ${p.artifactId} in ${p.service}`,
          ...loc,
          message: p.kind === 'env-mismatch'
            ? `${p.message} The app would look for the model where it is not mounted.`
            : `${p.message} Unless the app's default path is exactly that, it will not find the model.`,
          fix: p.kind === 'env-mismatch'
            ? `Remove ${p.env} from that file (the override sets it), or set it to ${p.target}.`
            : updateFix(ctx),
        });
        break;
      }
    }
  }
  // ok findings only claim what was actually checked
  const reported = new Set(findings.map((f) => f.id));
  const uncovered = new Set(ctx.mountProblems.filter((p) => p.kind === 'not-mounted' || p.kind === 'service-missing' || p.kind === 'not-bind').map((p) => p.artifactId));
  const mounted = ctx.selected.filter((a) => !uncovered.has(a.id)).length;
  const of = `${mounted} of ${plural(ctx.selected.length, 'selected artifact')} mounted`;
  const ok = (id: string, title: string, message: string) => {
    if (!reported.has(id)) findings.push({ id, verdict: 'ok', title, message });
  };
  if (uncovered.size === 0) ok(ids.missing, `Every selected artifact is mounted in ${ctx.compose.services.join(', ')}`, `${of}, per the merged Compose config.`);
  if (mounted > 0) {
    ok(ids.writable, 'Every artifact mount is read-only', `${of}; each of those mounts is read-only.`);
    ok(ids.mismatch, 'Every artifact mount comes from its verified host folder', `${of}; each comes from its folder under ${ctx.manifest.hostDir}.`);
  }
  if (ctx.selected.some((a) => a.env)) ok(ids.env, 'Every artifact env variable points at its mount target', 'Checked in the merged Compose config.');
  return findings;
}

// ---------------------------------------------------------------------------
// mount-source-missing / -empty / -unverified / -invalid (host files)

export function checkMountSourceFindings(ctx: DoctorContext): DoctorFinding[] {
  const findings: DoctorFinding[] = [];
  for (const s of ctx.sources) {
    const fix = `Run \`${commandFor('update')}\` to install the verified files of ${s.artifactId}.`;
    switch (s.state) {
      case 'ok':
        break;
      case 'missing':
        findings.push({ id: 'mount-source-missing', verdict: 'error', title: `${s.artifactId} is not on the host`, file: s.source, message: `${s.message} Docker would create it as an empty root-owned folder and mount that.`, fix });
        break;
      case 'empty':
        findings.push({ id: 'mount-source-empty', verdict: 'error', title: `${s.artifactId}'s host folder is empty`, file: s.source, message: `${s.message} The container would see an empty model folder.`, fix });
        break;
      case 'symlink':
      case 'not-directory':
        findings.push({ id: 'mount-source-invalid', verdict: 'error', title: `${s.artifactId}'s host folder is not a real folder`, file: s.source, message: s.message, fix: `Remove ${s.source} and run \`${commandFor('update')}\`.` });
        break;
      case 'unverified':
        findings.push({ id: 'mount-source-unverified', verdict: 'error', title: `${s.artifactId}'s host folder does not hold the verified files`, file: s.badFiles[0]?.hostPath ?? s.source, message: s.message, fix: `${fix} It repairs files that do not match the manifest.` });
        break;
    }
  }
  if (findings.length === 0) {
    findings.push({ id: 'mount-source-unverified', verdict: 'ok', title: 'Every mount source holds the verified files', message: `${plural(ctx.sources.length, 'artifact folder')} under ${ctx.manifest.hostDir} exist, are real folders and match the manifest.` });
  }
  return findings;
}

// ---------------------------------------------------------------------------
// symlink-escapes

async function walkSymlinks(root: string): Promise<string[]> {
  const links: string[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink()) links.push(p);
      else if (e.isDirectory()) stack.push(p);
    }
  }
  return links.sort();
}

/** Symlinks in `root` whose target is absolute or resolves outside it (they dangle in the container). */
export async function findEscapingSymlinks(root: string): Promise<{ link: string; target: string; reason: string }[]> {
  const out: { link: string; target: string; reason: string }[] = [];
  let realRoot: string;
  try {
    realRoot = await fs.realpath(root);
  } catch {
    return out;
  }
  for (const link of await walkSymlinks(root)) {
    const target = await fs.readlink(link);
    if (path.isAbsolute(target)) {
      out.push({ link, target, reason: 'absolute target: inside the container it resolves against the container\'s own file system' });
      continue;
    }
    const resolved = path.resolve(path.dirname(link), target);
    if (!isSameOrInside(resolved, root)) {
      out.push({ link, target, reason: `resolves to ${resolved}, outside the mounted folder` });
      continue;
    }
    try {
      const real = await fs.realpath(resolved);
      if (!isSameOrInside(real, realRoot)) out.push({ link, target, reason: `resolves (through further links) to ${real}, outside the mounted folder` });
    } catch {
      // dangling already on the host, but inside: verification reports missing files
    }
  }
  return out;
}

export async function checkSymlinks(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const findings: DoctorFinding[] = [];
  for (const s of ctx.sources) {
    if (s.state === 'missing' || s.state === 'not-directory' || s.state === 'symlink') continue;
    const escaping = await findEscapingSymlinks(s.source);
    for (const e of escaping) {
      findings.push({
        id: 'symlink-escapes',
        verdict: 'error',
        title: `A symlink in ${s.artifactId} points outside the mounted folder`,
        file: e.link,
        message: `${e.link} -> ${e.target}: ${e.reason}. Only ${s.source} is mounted, so this link dangles in the container.`,
        fix: `Replace the link with the file itself (modelmount installs hardlinks or copies, never symlinks): remove it and run \`${commandFor('update')}\`.`,
      });
    }
  }
  if (findings.length === 0) {
    findings.push({ id: 'symlink-escapes', verdict: 'ok', title: 'No symlink leaves a mounted folder', message: 'No artifact folder holds a symlink that points outside it.' });
  }
  return findings;
}

// ---------------------------------------------------------------------------
// override-stale (and override-missing / override-foreign)

/** Selected artifacts that installed.json lists: what the override should mount. */
export function installedSelected(ctx: Pick<DoctorContext, 'selected' | 'record'>): Artifact[] {
  const installed = ctx.record?.artifacts ?? {};
  return ctx.selected.filter((a) => Object.hasOwn(installed, a.id));
}

export async function checkOverrideStale(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const file = ctx.compose.override;
  const text = await readTextIfExists(file);
  if (text === undefined) {
    return [
      {
        id: 'override-missing',
        verdict: 'error',
        title: 'The Compose override does not exist',
        file,
        message: `${file} has not been written, so no service mounts the models.`,
        fix: `Run \`${commandFor('update')}\` (or \`${commandFor('compose')}\` when the models are already installed).`,
      },
    ];
  }
  const header = parseOverrideHeader(text);
  if (!header) {
    return [
      {
        id: 'override-foreign',
        verdict: 'warn',
        title: 'The override file was not generated by modelmount',
        file,
        line: 1,
        message: `${file} lacks the "# Generated by modelmount" header; modelmount will not overwrite it, and cannot tell whether it is current.`,
        fix: `Rename or remove ${file}, or set \`compose.override\` in ${ctx.manifest.path} to another path, then run \`${commandFor('compose')}\`.`,
      },
    ];
  }
  const reasons: string[] = [];
  let digestLine: number | undefined;
  const headerLines = text.split(/\r?\n/);
  const lineOf = (prefix: string) => {
    const i = headerLines.findIndex((l) => l.startsWith(prefix));
    return i === -1 ? undefined : i + 1;
  };
  if (header.manifestDigest !== ctx.manifest.digest) {
    reasons.push(`it was generated from manifest digest ${header.manifestDigest ?? '(none)'}, the manifest is now ${ctx.manifest.digest}`);
    digestLine = lineOf('# manifest-digest:');
  }
  if (ctx.record && header.manifestDigest !== ctx.record.manifestDigest) {
    reasons.push(`installed.json says the host folder was installed from manifest digest ${ctx.record.manifestDigest}`);
    digestLine ??= lineOf('# manifest-digest:');
  }
  const expected = installedSelected(ctx).map((a) => a.id).sort();
  const have = [...header.artifacts].sort();
  const added = expected.filter((id) => !have.includes(id));
  const removed = have.filter((id) => !expected.includes(id));
  if (added.length > 0 || removed.length > 0) {
    reasons.push(
      `the installed selection changed (${[added.length ? `not mounted: ${added.join(', ')}` : '', removed.length ? `no longer installed/selected: ${removed.join(', ')}` : ''].filter(Boolean).join('; ')})`,
    );
    digestLine ??= lineOf('# artifacts:');
  }
  if (reasons.length === 0) {
    // same digest and artifacts: compare the whole content, rendered with the version that wrote it
    const rendered = renderOverride({ manifest: ctx.manifest, artifacts: installedSelected(ctx), version: header.generatorVersion, releases: ctx.releases });
    if (rendered !== text) reasons.push('its content differs from what the manifest now produces (host folder, services or container folder changed, or it was edited by hand)');
  }
  if (reasons.length > 0) {
    return [
      {
        id: 'override-stale',
        verdict: 'error',
        title: 'The Compose override is stale',
        file,
        line: digestLine ?? 1,
        message: `${file} is out of date: ${reasons.join('; ')}.`,
        fix: `Run \`${commandFor('update')}\` (or \`${commandFor('compose')}\` if the models are already installed).`,
      },
    ];
  }
  return [
    {
      id: 'override-stale',
      verdict: 'ok',
      title: 'The Compose override is current',
      file,
      message: `${file} matches the manifest (digest ${ctx.manifest.digest}) and the installed artifacts (${expected.join(', ') || 'none'}). Its age is not compared with the manifest's: the content digest decides.`,
    },
  ];
}

// ---------------------------------------------------------------------------
// override-not-included

const DEFAULT_BASE = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];
const DEFAULT_OVERRIDE: Record<string, string[]> = {
  'compose.yaml': ['compose.override.yaml', 'compose.override.yml'],
  'compose.yml': ['compose.override.yml', 'compose.override.yaml'],
  'docker-compose.yaml': ['docker-compose.override.yaml', 'docker-compose.override.yml'],
  'docker-compose.yml': ['docker-compose.override.yml', 'docker-compose.override.yaml'],
};

function splitComposeFile(value: string, env: NodeJS.ProcessEnv): string[] {
  const sep = env.COMPOSE_PATH_SEPARATOR || path.delimiter;
  return value.split(sep).map((s) => s.trim()).filter(Boolean);
}

export async function checkOverrideIncluded(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const id = 'override-not-included';
  const override = path.resolve(ctx.compose.override);
  const inv = composeInvocation(ctx.manifest, ctx.engine, { cwd: ctx.cwd });
  const base = ctx.compose.files[0];
  const projectDir = base ? path.dirname(base) : ctx.manifest.dir;
  const notIncluded = (message: string, extra: Partial<DoctorFinding> = {}): DoctorFinding[] => [
    { id, verdict: 'warn', title: 'Compose may not read the override', file: ctx.compose.override, message, fix: inv.guidance, ...extra },
  ];

  // 1. COMPOSE_FILE in the environment, else in the project's .env (Compose reads both)
  let composeFile: { value: string; from: string; dir: string } | undefined;
  if (ctx.env.COMPOSE_FILE) composeFile = { value: ctx.env.COMPOSE_FILE, from: 'the COMPOSE_FILE environment variable', dir: ctx.cwd };
  else {
    const dotenv = await readTextIfExists(path.join(projectDir, '.env'));
    const value = dotenv === undefined ? undefined : parseEnv(dotenv).COMPOSE_FILE;
    // relative entries resolve against the directory Compose runs in, as for the environment variable
    if (value) composeFile = { value, from: `COMPOSE_FILE in ${path.join(projectDir, '.env')}`, dir: ctx.cwd };
  }
  const listed = composeFile ? splitComposeFile(composeFile.value, ctx.env).map((f) => path.resolve(composeFile!.dir, f)) : undefined;
  if (listed?.includes(override)) {
    return [{ id, verdict: 'ok', title: 'COMPOSE_FILE includes the override', message: `${composeFile!.from} lists ${ctx.compose.override}.` }];
  }

  // 2. include: in a base file (Compose v2.20.3+), merged together with the base: `path: [base, override]`
  const candidates = listed ?? ctx.compose.files;
  for (const file of candidates) {
    for (const inc of await readIncludes(file)) {
      const resolved = inc.paths.map((p) => path.resolve(path.dirname(file), p));
      const at = resolved.indexOf(override);
      if (at === -1) continue;
      if (at > 0) {
        const v1 = ctx.engine?.version === 'v1' ? ' Note: docker-compose v1 does not support `include:`; use Compose v2.20.3+.' : '';
        return [{ id, verdict: v1 ? 'warn' : 'ok', title: 'A base file includes the override', file, line: inc.line, message: `${file} includes ${ctx.compose.override} merged after ${inc.paths.slice(0, at).join(', ')}.${v1}`, ...(v1 ? { fix: inv.guidance } : {}) }];
      }
      return notIncluded(
        `${file} includes ${ctx.compose.override} on its own. Compose loads an included file as a separate project, so its partial \`${ctx.compose.services.join('`, `')}\` service conflicts with yours instead of being merged into it.`,
        { file, line: inc.line },
      );
    }
  }
  if (composeFile) {
    return notIncluded(`${composeFile.from} is set to "${composeFile.value}" and does not list ${ctx.compose.override}: Compose will not read the override, so the models are not mounted.`);
  }

  // 3. the default override next to the default base file is read when Compose runs without -f
  if (ctx.compose.files.length === 1 && base && DEFAULT_BASE.includes(path.basename(base))) {
    const names = DEFAULT_OVERRIDE[path.basename(base)] ?? [];
    if (path.dirname(override) === path.dirname(base) && names.includes(path.basename(override))) {
      return [{ id, verdict: 'ok', title: 'The override has the default override name', message: `Compose reads ${path.basename(override)} automatically next to ${path.basename(base)} when run in ${path.dirname(base)} without -f or COMPOSE_FILE.` }];
    }
  }
  return notIncluded(
    `Nothing makes Compose read ${ctx.compose.override}: it is not in COMPOSE_FILE, not included by ${ctx.compose.files.map((f) => path.basename(f)).join(', ')}, and not the default override name. A plain \`docker compose up\` would start without the model mounts. (If your scripts pass -f, this is fine.)`,
  );
}

// ---------------------------------------------------------------------------
// require-violated

export async function checkRequire(ctx: DoctorContext): Promise<DoctorFinding[]> {
  const findings: DoctorFinding[] = [];
  const okIds = new Set(ctx.sources.filter((s) => s.state === 'ok').map((s) => s.artifactId));
  const installed = new Set(Object.keys(ctx.record?.artifacts ?? {}));
  const mounted = (id: string) => okIds.has(id) && installed.has(id);
  for (const [i, rule] of ctx.manifest.require.entries()) {
    if (rule.anyOf.some(mounted)) continue;
    const loc = await locateKey(ctx.manifest.path, ['require', i]);
    const state = rule.anyOf
      .map((id) => `${id}: ${!ctx.selected.some((a) => a.id === id) ? 'not selected' : !installed.has(id) ? 'not installed' : 'installed but its folder does not verify'}`)
      .join('; ');
    findings.push({
      id: 'require-violated',
      verdict: 'error',
      title: `None of ${rule.anyOf.join(', ')} is installed`,
      ...(loc ?? { file: ctx.manifest.path }),
      message: `The manifest requires at least one of ${rule.anyOf.join(', ')} (${state}). The app cannot start without one (e.g. \`${OUTAGE_SYMPTOM}\`).`,
      fix: `Install at least one of them: \`${commandFor('update', `--only ${rule.anyOf[0]}`)}\` adds it to what is installed (every installed artifact stays mounted).`,
    });
  }
  if (findings.length === 0) {
    findings.push({ id: 'require-violated', verdict: 'ok', title: 'Every rule is satisfied', message: `${plural(ctx.manifest.require.length, 'rule')} checked against the verified installed artifacts.` });
  }
  return findings;
}


// ---------------------------------------------------------------------------
// container-outdated, image-expects-mismatch (releases: which container runs which models)

/** Does an image's io.modelmount.expects label agree with a set? A set digest (or prefix), or `id=digest,…` artifact versions. */
export function expectsAgrees(expects: string, set: ReleaseSet | undefined): boolean {
  if (!set) return false;
  const value = expects.trim();
  if (!value.includes('=')) return value.length >= 7 && set.digest.startsWith(value.toLowerCase());
  return value.split(',').every((pair) => {
    const [id, digest] = pair.split('=').map((x) => x.trim());
    const a = id ? set.artifacts[id] : undefined;
    return Boolean(a && digest && digest.length >= 7 && a.digest.startsWith(digest.toLowerCase()));
  });
}

export function checkReleaseBinding(ctx: DoctorContext): DoctorFinding[] {
  const cur = currentSet(ctx.releaseRecord);
  if (!cur || !ctx.containers) return [];
  const findings: DoctorFinding[] = [];
  const outdated = ctx.containers.filter((c) => c.running && c.current === false);
  findings.push(
    outdated.length
      ? {
          id: 'container-outdated',
          verdict: 'warn',
          title: `${plural(outdated.length, 'running container')} run${outdated.length === 1 ? 's' : ''} an older release set`,
          message: `${outdated.map((c) => `${c.name} (${c.service}) runs ${c.set ? c.set.slice(0, 12) : 'models not from a release'}`).join('; ')}; the current set is ${cur.digest.slice(0, 12)}. They keep their models until recreated.`,
          fix: `Run \`${commandFor('apply')}\` (recreates exactly those services, smoke-tests, switches back on failure).`,
        }
      : { id: 'container-outdated', verdict: 'ok', title: 'Every running container runs the current release set', message: `Release set ${cur.digest.slice(0, 12)}.` },
  );
  for (const c of ctx.containers.filter((x) => x.running && x.expects !== undefined)) {
    if (expectsAgrees(c.expects!, cur)) continue;
    findings.push({
      id: 'image-expects-mismatch',
      verdict: 'warn',
      title: `The image of ${c.name} expects other models than the installed set`,
      message: `${c.image} declares ${EXPECTS_LABEL}=${c.expects}, but the current release set is ${cur.digest.slice(0, 12)} (${Object.entries(cur.artifacts)
        .map(([id, a]) => `${id}=${a.digest.slice(0, 12)}`)
        .join(', ')}).`,
      fix: `Install the models the image was built for (or \`${commandFor('rollback', '--to <set>')}\`), or rebuild the image with the matching label.`,
    });
  }
  return findings;
}
