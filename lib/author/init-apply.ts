/** What init writes after every question is answered: the manifest, the npm scripts, COMPOSE_FILE in .env; and what to run next. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../fs-atomic.ts';
import { commandFor } from '../invocation.ts';
import type { Io } from '../io.ts';
import { formatBytes } from '../ui/format.ts';
import { shown, type InitPlan } from './init-plan.ts';
import { DEFAULT_MANIFEST } from '../defaults.ts';

async function writePackageScripts(file: string, add: Record<string, string>): Promise<void> {
  const text = await fs.readFile(file, 'utf8');
  const indent = /^\{\s*\n([ \t]+)"/.exec(text)?.[1] ?? '  ';
  const pkg = JSON.parse(text) as { scripts?: Record<string, string> };
  pkg.scripts = { ...pkg.scripts, ...add };
  const mode = (await fs.stat(file)).mode & 0o777;
  await writeFileAtomic(file, `${JSON.stringify(pkg, null, indent)}${text.endsWith('\n') ? '\n' : ''}`, mode);
}

const ENV_LINE = /^\s*(?:export\s+)?COMPOSE_FILE\s*=\s*(.*)$/;

async function writeComposeEnv(file: string, value: string): Promise<void> {
  const current = await fs.readFile(file, 'utf8').catch(() => undefined);
  const line = `COMPOSE_FILE=${value}`;
  let next: string;
  if (current === undefined) next = `# Compose reads this file: COMPOSE_FILE makes a plain \`docker compose up\` include modelmount's override.\n${line}\n`;
  else {
    const lines = current.replace(/\n$/, '').split('\n');
    const at = lines.findIndex((l) => ENV_LINE.test(l));
    if (at >= 0) lines[at] = line;
    else if (lines.length === 1 && lines[0] === '') lines[0] = line;
    else lines.push(line);
    next = `${lines.join('\n')}\n`;
  }
  const mode = current === undefined ? 0o644 : (await fs.stat(file)).mode & 0o777;
  await writeFileAtomic(file, next, mode);
}

export async function applyInit(plan: InitPlan, io: Io): Promise<number> {
  await fs.mkdir(path.dirname(plan.manifestPath), { recursive: true });
  await writeFileAtomic(plan.manifestPath, plan.text);
  const files = plan.manifest.artifacts.flatMap((a) => a.files);
  const say = (line: string) => io.stdout.write(`${line}\n`);
  say(
    `✔ Wrote ${shown(io.cwd, plan.manifestPath)}: ${plan.manifest.artifacts.length} artifact${plan.manifest.artifacts.length === 1 ? '' : 's'} (${plan.manifest.artifacts.map((a) => a.id).join(', ')}), ${files.length} file${files.length === 1 ? '' : 's'}, ${formatBytes(files.reduce((s, f) => s + f.size, 0))}.`,
  );
  if (plan.npmScripts) {
    await writePackageScripts(plan.npmScripts.file, plan.npmScripts.add);
    const added = Object.keys(plan.npmScripts.add);
    if (added.length) say(`✔ Added the npm scripts ${added.join(', ')} to ${shown(io.cwd, plan.npmScripts.file)}.`);
    if (plan.npmScripts.kept.length) say(`  Kept your own ${plan.npmScripts.kept.join(', ')}.`);
    if (!plan.npmScripts.installed) say('  modelmount is not among its dependencies yet: `npm install -D modelmount` so the scripts find it.');
  }
  if (plan.composeEnv) {
    await writeComposeEnv(plan.composeEnv.file, plan.composeEnv.value);
    say(`✔ Set COMPOSE_FILE=${plan.composeEnv.value} in ${shown(io.cwd, plan.composeEnv.file)}: a plain \`docker compose up\` includes the override.`);
  }
  const manifestArg = plan.manifestPath === path.resolve(io.cwd, DEFAULT_MANIFEST) ? '' : `--manifest ${shown(io.cwd, plan.manifestPath)}`;
  // the scripts just added carry --manifest themselves
  const update = plan.npmScripts?.add['models:update'] ? 'npm run models:update' : commandFor('update', manifestArg);
  say(`Next: publish the artifacts at the source${plan.manifest.sources.length === 1 ? '' : 's'} (<url><artifact id>/<file>) if they are not there yet, then`);
  say(`  ${update}   installs and verifies them${plan.manifest.compose ? `, writes ${shown(io.cwd, plan.manifest.compose.override)} and smoke-tests ${plan.manifest.compose.services.join(', ')}` : ''}.`);
  return 0;
}
