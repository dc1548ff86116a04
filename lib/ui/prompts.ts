/**
 * Every question modelmount asks lives here (np's ui.js, changesets' prompt
 * wrapper): commands ask through these functions, tests replace this module.
 * Ctrl+C at a prompt becomes CancelledError (exit 130, nothing changed).
 */
import { CancelledError } from '../errors.ts';
import { importDependency } from '../import-dependency.ts';
import type { Artifact, ResolvedSource } from '../manifest/schema.ts';
import { formatBytes } from './format.ts';

type Inquirer = typeof import('@inquirer/prompts');

/** Ask one question. @inquirer/prompts is loaded on the first one (~55 ms a run without questions never pays). */
async function ask<T>(fn: (prompts: Inquirer) => Promise<T>): Promise<T> {
  const prompts = await importDependency('@inquirer/prompts', () => import('@inquirer/prompts'));
  try {
    return await fn(prompts);
  } catch (err) {
    const name = (err as Error | undefined)?.name;
    if (name === 'ExitPromptError' || name === 'AbortPromptError') throw new CancelledError();
    throw err;
  }
}

function artifactSize(a: Artifact): number {
  return a.files.reduce((s, f) => s + f.size, 0);
}

/** Label keys worth asking about: those with two or more values (e.g. lang: ja, en). */
export function choosableLabels(artifacts: Artifact[]): Map<string, string[]> {
  const values = new Map<string, Set<string>>();
  for (const a of artifacts) for (const [k, v] of Object.entries(a.labels)) (values.get(k) ?? values.set(k, new Set()).get(k)!).add(v);
  return new Map([...values].filter(([, v]) => v.size > 1).map(([k, v]) => [k, [...v].sort()]));
}

export async function askLabels(key: string, values: string[]): Promise<string[]> {
  return ask((p) =>
    p.checkbox({
      message: `Which ${key} do you need?`,
      choices: values.map((v) => ({ name: v, value: v, checked: true })),
      required: true,
    }),
  );
}

export async function askOptionalArtifacts(optional: Artifact[]): Promise<string[]> {
  return ask((p) =>
    p.checkbox({
      message: 'Also install these optional artifacts?',
      choices: optional.map((a) => ({
        name: `${a.id} (${formatBytes(artifactSize(a))})${a.description ? ` — ${a.description}` : ''}`,
        value: a.id,
        checked: false,
      })),
    }),
  );
}

export async function askSource(sources: ResolvedSource[]): Promise<string> {
  return ask((p) =>
    p.select({
      message: 'Which source should be tried first? (the others stay as fallbacks)',
      choices: sources.map((s) => ({ name: `${s.name} (${sourceKindLabel(s)})`, value: s.name })),
    }),
  );
}

export async function confirmRepairs(files: { artifactId: string; path: string; reason: string }[]): Promise<boolean> {
  const list = files
    .slice(0, 10)
    .map((f) => `  ${f.artifactId}/${f.path}: ${f.reason}`)
    .join('\n');
  const more = files.length > 10 ? `\n  … and ${files.length - 10} more` : '';
  return ask((p) =>
    p.confirm({
      message: `These files on the host differ from the manifest and will be replaced:\n${list}${more}\nReplace them?`,
      default: true,
    }),
  );
}

/** gc on a terminal, after the list of what would go has been printed. */
export async function confirmGc(items: number, bytes: number, blobs: number): Promise<boolean> {
  const store = blobs ? `, ${blobs} of them blob${blobs === 1 ? '' : 's'} of the store no registered install uses` : '';
  return ask((p) => p.confirm({ message: `Remove these ${items} item${items === 1 ? '' : 's'} (${formatBytes(bytes)}${store})?`, default: false }));
}

/** update --prune: removing installed artifacts from the mounted set (default no). */
export async function confirmPrune(ids: readonly string[]): Promise<boolean> {
  return ask((p) =>
    p.confirm({
      message: `--prune removes ${ids.join(', ')} from the mounted set: the Compose override will no longer mount ${ids.length === 1 ? 'it' : 'them'} (the folders stay on the host until \`gc\`). Remove?`,
      default: false,
    }),
  );
}

export const CUSTOM_SOURCE = '\0custom';

/** What a source is, as a person reads it: https, http (plain, unencrypted) or folder. */
export function sourceKindLabel(s: Pick<ResolvedSource, 'kind' | 'base'>): string {
  if (s.kind === 'file') return 'folder';
  if (s.kind !== 'http') return s.kind;
  return /^http:/i.test(s.base) ? 'http' : 'https';
}

/** true, or what is wrong with the answer (the question is then asked again). */
export type Validate = (answer: string) => true | string | Promise<true | string>;

/** bootstrap: a manifest source, or another URL / folder typed in. */
export async function askSourceOrCustom(sources: ResolvedSource[], validateUrl: Validate = () => true): Promise<{ name?: string; url?: string }> {
  const picked = await ask((p) =>
    p.select({
      message: 'Where should the models come from? (the others stay as fallbacks)',
      choices: [
        ...sources.map((s) => ({ name: `${s.name} (${sourceKindLabel(s)}: ${s.base})`, value: s.name })),
        { name: 'another URL or folder…', value: CUSTOM_SOURCE },
      ],
    }),
  );
  if (picked !== CUSTOM_SOURCE) return { name: picked };
  const url = await ask((p) =>
    p.input({
      message: 'Base URL (https://…/) or folder path holding <artifact id>/<file>:',
      validate: (v) => (v.trim() ? validateUrl(v.trim()) : 'Type a URL or a folder path'),
    }),
  );
  return { url: url.trim() };
}

export async function askHostDir(defaultDir: string, validate: Validate = () => true): Promise<string> {
  return ask((p) => p.input({ message: 'Host folder for the models (bind-mounted read-only into the containers):', default: defaultDir, validate }));
}

export async function askServices(all: string[], preselected: string[]): Promise<string[]> {
  return ask((p) =>
    p.checkbox({
      message: 'Which Compose services load the models?',
      choices: all.map((s) => ({ name: s, value: s, checked: preselected.includes(s) })),
      required: true,
    }),
  );
}

export async function askRunSmoke(): Promise<boolean> {
  return ask((p) => p.confirm({ message: 'Run the smoke test (a one-off container of each service, no network) at the end?', default: true }));
}

// ---------------------------------------------------------------------------
// init: every question has a flag (lib/commands/init-command.ts); `validate` returns true or what is wrong


export async function askArtifactsFolder(defaultDir: string | undefined, validate: Validate): Promise<string> {
  const answer = await ask((p) =>
    p.input({
      message: 'Folder that holds the artifacts to describe, one sub-folder per artifact (e.g. student/v0_ja/…):',
      ...(defaultDir ? { default: defaultDir } : {}),
      validate: (v) => validate(v.trim()),
    }),
  );
  return answer.trim();
}

export async function askArtifactLabels(id: string, validate: Validate): Promise<string> {
  const answer = await ask((p) => p.input({ message: `Labels for ${id} (e.g. lang=ja,role=student; empty for none):`, validate: (v) => validate(v.trim()) }));
  return answer.trim();
}

export async function askSourceUrls(validate: Validate): Promise<string> {
  const answer = await ask((p) =>
    p.input({
      message: 'Where are the artifacts published? Base URL (https://…/) or folder holding <artifact id>/<file>; several: comma-separated, tried in order:',
      validate: (v) => validate(v.trim()),
    }),
  );
  return answer.trim();
}

export async function askComposeFiles(detected: string[], validate: Validate): Promise<string> {
  const answer = await ask((p) =>
    p.input({
      message: 'Your Compose files, comma-separated (empty: no Compose):',
      ...(detected.length ? { default: detected.join(',') } : {}),
      validate: (v) => validate(v.trim()),
    }),
  );
  return answer.trim();
}

export async function askContainerDir(defaultDir: string, validate: Validate): Promise<string> {
  const answer = await ask((p) => p.input({ message: 'Folder in the containers where the artifacts appear (artifact <id> at <folder>/<id>):', default: defaultDir, validate: (v) => validate(v.trim()) }));
  return answer.trim();
}

export async function askSmokeCommand(): Promise<string> {
  const answer = await ask((p) => p.input({ message: "The app's own load check, run with sh -c in the service's container (empty for none):" }));
  return answer.trim();
}

export async function confirmNpmScripts(names: string[]): Promise<boolean> {
  return ask((p) => p.confirm({ message: `Add the npm scripts ${names.join(', ')} to package.json?`, default: true }));
}

export async function confirmComposeEnv(envFile: string, value: string): Promise<boolean> {
  return ask((p) => p.confirm({ message: `Set COMPOSE_FILE=${value} in ${envFile}, so a plain \`docker compose up\` mounts the models?`, default: true }));
}
