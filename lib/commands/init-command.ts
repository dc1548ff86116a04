/**
 * `modelmount init`: start a manifest in the user's project. Asks (or takes flags for) the host
 * folder, the folder of existing artifacts to hash into entries, their labels, the sources, the
 * Compose files, services and container folder, and the smoke command; writes a commented
 * manifest that `manifest check` accepts; in a Node project offers the `models:*` npm scripts;
 * offers COMPOSE_FILE in the project's .env so a plain `docker compose up` includes the override.
 * Every question is answered before anything is hashed or written (the work: lib/author/init-plan.ts, init-apply.ts).
 */
import type { FlagSpec } from '../cli/args.ts';
import { defineCommand } from '../cli/command.ts';
import { commandFor, formatExamples } from '../invocation.ts';
import { COMPOSE_DEFAULT_FILES, DEFAULT_MANIFEST, DEFAULT_HOST_DIR, DEFAULT_CONTAINER_DIR, DEFAULT_OVERRIDE_NAME } from '../defaults.ts';

const INIT_FLAGS = [
  { name: 'host-dir', type: 'string', value: 'DIR', help: `host folder the containers mount (default ${DEFAULT_HOST_DIR})` },
  { name: 'from', type: 'string', value: 'DIR', help: 'folder of existing artifacts, one sub-folder per artifact, hashed into entries (default: the host folder when it holds files)' },
  { name: 'labels', type: 'list', value: '[ID:]K=V', help: 'labels: K=V for every artifact, ID:K=V for one, e.g. student/v0_ja:lang=ja (default: none)' },
  { name: 'sources', type: 'list', value: 'URLS', help: 'where the artifacts are published, tried in order: https:// base URL, file:// URL or folder (needed without a terminal)' },
  { name: 'compose-files', type: 'list', value: 'FILES', help: `your base Compose files (default: what \`docker compose\` reads here: the first of ${COMPOSE_DEFAULT_FILES.join(', ')}, and the compose.override.yml or the like next to it; none: no Compose section)` },
  { name: 'services', type: 'list', value: 'NAMES', help: 'the services that load the models (default: the only service; needed when there are several)' },
  { name: 'container-dir', type: 'string', value: 'DIR', help: `where the artifacts appear in the containers (default ${DEFAULT_CONTAINER_DIR})` },
  { name: 'override', type: 'string', value: 'PATH', help: `the override modelmount writes (default ${DEFAULT_OVERRIDE_NAME} next to the first Compose file)` },
  { name: 'smoke-command', type: 'string', value: 'CMD', help: "the app's own load check, run with sh -c in each service (default: none)" },
  { name: 'npm-scripts', type: 'boolean', help: 'add the models:* scripts to package.json (default: asked in a Node project; without a terminal, no)' },
  { name: 'compose-env', type: 'boolean', help: 'set COMPOSE_FILE in the .env next to the first Compose file (default: asked; without a terminal, no)' },
  { name: 'force', type: 'boolean', help: 'replace an existing manifest' },
  { name: 'dry-run', type: 'boolean', help: 'ask and hash, print the manifest, write nothing' },
  { name: 'yes', type: 'boolean', alias: 'y', env: 'MODELS_YES', help: 'ask nothing: take the flags and the defaults' },
  { name: 'jobs', type: 'number', value: 'N', env: 'MODELS_JOBS', alias: 'j', help: 'files hashed at once (default 1 per core, 2 to 4)' },
] as const satisfies readonly FlagSpec[];

export const initCommand = defineCommand({
  name: 'init',
  summary: 'start a manifest in your project: hash existing artifacts, name the sources and the Compose services',
  usage: 'modelmount init [--from DIR] [--sources URLS] [--host-dir DIR] [--compose-files FILES] [--services NAMES] [--container-dir DIR] [options]',
  flags: INIT_FLAGS,
  get details() {
    return `On a terminal it asks every question the flags leave open (all before hashing); without one
(CI, --yes) it takes the defaults above and stops with the flag to add when a question has none.
The manifest is written to --manifest (default ${DEFAULT_MANIFEST}) and validated first; an existing
one is kept unless --force.

Examples:
${formatExamples([
  [commandFor('init'), 'asks'],
  [commandFor('init', "--yes --from ./artifacts --sources https://models.example.com/ml/ --services worker --container-dir /app/models --smoke-command 'python -m app.check_models' --compose-env")],
])}`;
  },
  async run(flags, io, signal) {
    const { applyInit } = await import('../author/init-apply.ts');
    const { planInit } = await import('../author/init-plan.ts');
        const given = (name: (typeof INIT_FLAGS)[number]['name']) => flags.given.has(name);
    const plan = await planInit(
      {
        manifest: flags.manifest,
        hostDir: given('host-dir') ? flags['host-dir'] : undefined,
        from: given('from') ? flags.from : undefined,
        labels: given('labels') ? flags.labels : undefined,
        sources: given('sources') ? flags.sources : undefined,
        composeFiles: given('compose-files') ? flags['compose-files'] : undefined,
        services: given('services') ? flags.services : undefined,
        containerDir: given('container-dir') ? flags['container-dir'] : undefined,
        override: given('override') ? flags.override : undefined,
        smokeCommand: given('smoke-command') ? flags['smoke-command'] : undefined,
        npmScripts: given('npm-scripts') ? Boolean(flags['npm-scripts']) : undefined,
        composeEnv: given('compose-env') ? Boolean(flags['compose-env']) : undefined,
        force: Boolean(flags.force),
        dryRun: Boolean(flags['dry-run']),
        yes: Boolean(flags.yes),
        jobs: flags.jobs,
      },
      io,
      signal,
    );
    if (flags['dry-run']) {
      io.stdout.write(plan.text);
      return 0;
    }
    return applyInit(plan, io);
  },
});
