/**
 * Every question modelmount asks lives here (np's ui.js, changesets' prompt
 * wrapper): commands ask through these functions, tests replace this module.
 * Ctrl+C at a prompt becomes CancelledError (exit 0, nothing changed).
 */
import { checkbox, confirm, select } from '@inquirer/prompts';
import { CancelledError } from '../errors.ts';
import type { Artifact, ResolvedSource } from '../manifest/schema.ts';
import { formatBytes } from './format.ts';

async function ask<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
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
  return ask(() =>
    checkbox({
      message: `Which ${key} do you need?`,
      choices: values.map((v) => ({ name: v, value: v, checked: true })),
      required: true,
    }),
  );
}

export async function askOptionalArtifacts(optional: Artifact[]): Promise<string[]> {
  return ask(() =>
    checkbox({
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
  return ask(() =>
    select({
      message: 'Which source should be tried first? (the others stay as fallbacks)',
      choices: sources.map((s) => ({ name: `${s.name} (${s.kind})`, value: s.name })),
    }),
  );
}

export async function confirmRepairs(files: { artifactId: string; path: string; reason: string }[]): Promise<boolean> {
  const list = files
    .slice(0, 10)
    .map((f) => `  ${f.artifactId}/${f.path}: ${f.reason}`)
    .join('\n');
  const more = files.length > 10 ? `\n  … and ${files.length - 10} more` : '';
  return ask(() =>
    confirm({
      message: `These files on the host differ from the manifest and will be replaced:\n${list}${more}\nReplace them?`,
      default: true,
    }),
  );
}
