/** `modelmount swarm provision | override | smoke | node-run`: thin; the work is in lib/fleet/swarm/. */
import path from 'node:path';
import { defineCommand } from '../cli/command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import { loadContext } from './options.ts';
import { JSON_FLAG, LOCATION_FLAGS, pickFlags, SELECTION_FLAGS } from './specs.ts';
import { DEFAULT_IMAGE } from '../defaults.ts';

const SUBCOMMANDS = ['provision', 'override', 'smoke', 'status', 'node-run'] as const;

const timeoutMs = (seconds: number | undefined) => (seconds ?? 900) * 1000;

export const swarmCommand = defineCommand({
  name: 'swarm',
  operands: 'own',
  summary: 'Docker Swarm: provision every node (global-job + node label), write the stack override, smoke-test per node',
  usage: 'modelmount swarm provision|override|smoke|status [--image IMG] [--constraint EXPR] [--only IDS] [--json]',
  flags: [
    ...pickFlags(SELECTION_FLAGS, 'only', 'labels', 'include-optional', 'source'),
    ...pickFlags(LOCATION_FLAGS, 'host-dir', 'cache-dir', 'retries', 'jobs'),
    { name: 'image', type: 'string', value: 'IMG', env: 'MODELS_SWARM_IMAGE', help: `provision: the modelmount image every node has (default ${DEFAULT_IMAGE}); smoke: the app image (default: the service's image:)` },
    { name: 'constraint', type: 'list', value: 'EXPR', help: 'provision: only nodes matching this Swarm placement constraint, e.g. node.labels.gpu==true (repeatable)' },
    { name: 'timeout', type: 'number', value: 'SECONDS', help: 'give up waiting for the job after this long (default 900); unfinished nodes lose the label' },
    { name: 'output', type: 'string', value: 'FILE', alias: 'o', help: 'override: write the file here instead of printing it' },
    { name: 'service', type: 'string', value: 'NAME', help: 'smoke: the Compose service whose image runs the smoke command (default: the first listed)' },
    JSON_FLAG,
  ],
  details: `Run on a Swarm manager (or with DOCKER_HOST pointing at one).
  modelmount swarm provision --image modelmount:1.0     # every node installs + verifies; labels modelmount.set=<digest>
  modelmount swarm override -o models.swarm.yaml         # read-only binds + placement on that label
  docker stack deploy -c compose.yaml -c models.swarm.yaml app
  modelmount swarm smoke                                 # smoke.command on every labelled node
  modelmount swarm status                                # per node: the set it holds, the placed services' tasks there
Each node's host folder is the manifest's hostDir (or --host-dir); its store the manifest's cacheDir, else /var/cache/modelmount.
The job bind-mounts the PARENT folders of both (they must exist on the nodes). Tokens (a source's tokenEnv set here) reach the nodes as Swarm secrets.
Exit status of provision: 0 when every node holds the set, else the first failing node's own status (3 sources, 4 integrity, 5 disk), 7 when Swarm refused or lost a task.`,
  async run(flags, io, signal) {
    const { runNodeJob } = await import('./swarm-node-run.ts');
    const { formatProvision, provisionExit, provisionSwarm } = await import('../fleet/swarm/provision.ts');
    const { baseComposeVersion, renderSwarmOverride } = await import('../fleet/swarm/override.ts');
    const { formatSwarmSmoke, smokeSwarm } = await import('../fleet/swarm/smoke.ts');
    const { fleetSelection, printOrWrite, printSwarmStatus, swarmShell } = await import('./fleet-output.ts');
    const sub = flags._[0];
    if (!SUBCOMMANDS.includes(sub as (typeof SUBCOMMANDS)[number]) || flags._.length > 1) {
      throw new UsageError(sub ? `Unknown swarm subcommand "${flags._.join(' ')}".` : 'Which swarm subcommand?', { hint: 'Use modelmount swarm provision, override, smoke or status (modelmount swarm --help).' });
    }
    if (sub === 'node-run') return runNodeJob(flags, io, signal);
    if (sub === 'status') return printSwarmStatus(flags, io, signal);
    const ctx = await loadContext(flags, io, signal);
    const artifacts = fleetSelection(ctx, flags);
    if (sub === 'override') {
      const text = renderSwarmOverride({ manifest: ctx.manifest, artifacts, baseVersion: await baseComposeVersion(ctx.manifest) });
      const out = flags.output;
      if (ctx.json && !out) {
        io.stdout.write(`${JSON.stringify({ command: 'swarm override', ok: true, yaml: text }, null, 2)}\n`);
        return ExitCode.ok;
      }
      const file = await printOrWrite(text, out, io);
      if (!file) return ExitCode.ok;
      if (ctx.json) io.stdout.write(`${JSON.stringify({ command: 'swarm override', ok: true, path: file }, null, 2)}\n`);
      else io.stdout.write(`Wrote ${file}.\n  → docker stack deploy -c <your compose file> -c ${out} <stack>\n`);
      return ExitCode.ok;
    }
    const sh = await swarmShell(io);
    if (sub === 'provision') {
      const report = await provisionSwarm(sh, {
        manifest: ctx.manifest,
        artifacts,
        image: flags.image ?? DEFAULT_IMAGE,
        hostDir: ctx.hostDir,
        cacheDir: flags['cache-dir'] ? path.resolve(io.cwd, flags['cache-dir']) : undefined,
        constraints: flags.constraint ?? [],
        retries: flags.retries,
        source: flags.source,
        env: io.env,
        timeoutMs: timeoutMs(flags.timeout),
        signal,
        log: ctx.json ? undefined : ctx.log,
      });
      io.stdout.write(ctx.json ? `${JSON.stringify(report, null, 2)}\n` : formatProvision(report));
      return provisionExit(report.nodes);
    }
    const report = await smokeSwarm(sh, {
      manifest: ctx.manifest,
      artifacts,
      hostDir: ctx.hostDir,
      service: flags.service,
      image: flags.image,
      timeoutMs: timeoutMs(flags.timeout),
      signal,
    });
    io.stdout.write(ctx.json ? `${JSON.stringify(report, null, 2)}\n` : formatSwarmSmoke(report));
    return report.ok ? ExitCode.ok : ExitCode.smoke;
  },
});
