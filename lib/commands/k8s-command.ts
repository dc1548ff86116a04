/** `modelmount k8s render`: thin; the rendering is in lib/fleet/k8s/render.ts. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { defineCommand } from '../cli/command.ts';
import { ExitCode, UsageError } from '../errors.ts';
import type { K8sKind, K8sPattern, K8sVolume } from '../fleet/k8s/render.ts';
import { loadContext } from './options.ts';
import { pickFlags, SELECTION_FLAGS } from './specs.ts';
import { DEFAULT_IMAGE } from '../defaults.ts';

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  const hit = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (!hit) throw new UsageError(`--${flag} ${value}: expected one of ${allowed.join(', ')}.`);
  return hit;
}

export const k8sCommand = defineCommand({
  name: 'k8s',
  operands: 'own',
  summary: 'Kubernetes: render YAML (initContainer filling emptyDir/hostPath, or a Job filling a ReadOnlyMany PVC)',
  usage: 'modelmount k8s render [--pattern init|pvc] [--volume emptyDir|hostPath] [--image IMG] [--app-image IMG] [-o FILE]',
  flags: [
    ...pickFlags(SELECTION_FLAGS, 'only', 'labels', 'include-optional'),
    { name: 'pattern', type: 'string', value: 'init|pvc', help: 'init: an initContainer fills a volume of the app pod (default); pvc: a Job fills a PersistentVolumeClaim the app pods mount read-only' },
    { name: 'volume', type: 'string', value: 'emptyDir|hostPath', help: 'init pattern: a fresh emptyDir per pod (default) or the node folder hostDir (kept across pods)' },
    { name: 'kind', type: 'string', value: 'Deployment|Pod', help: 'init pattern: the app workload (default Deployment)' },
    { name: 'restart-policy', type: 'string', value: 'POLICY', help: 'with --kind Pod: Always (default), OnFailure or Never' },
    { name: 'name', type: 'string', value: 'NAME', help: 'base name of the objects (default: the first Compose service, else "models")' },
    { name: 'namespace', type: 'string', value: 'NS', help: 'metadata.namespace of every object' },
    { name: 'image', type: 'string', value: 'IMG', help: `the modelmount image (default ${DEFAULT_IMAGE})` },
    { name: 'app-image', type: 'string', value: 'IMG', help: "the app's image (default: the service's image: in the Compose files)" },
    { name: 'host-dir', type: 'string', value: 'DIR', help: 'hostPath volume: the node folder (default: the manifest hostDir)' },
    { name: 'storage', type: 'string', value: 'SIZE', help: 'pvc pattern: requested size, e.g. 5Gi (default: the selection plus a quarter)' },
    { name: 'output', type: 'string', value: 'FILE', alias: 'o', help: 'write the YAML here instead of printing it' },
  ],
  details: `Examples:
  modelmount k8s render > models.k8s.yaml                        # initContainer + emptyDir, the app mounts it readOnly
  modelmount k8s render --volume hostPath --image reg/modelmount:1 # the node folder: the next pod on that node reuses it
  modelmount k8s render --pattern pvc -o models.k8s.yaml          # a Job fills a PVC once; pods mount it readOnly
The manifest goes into a ConfigMap; tokens come from the Secret <name>-tokens (create it yourself, see the YAML's header).`,
  async run(flags, io, signal) {
    const { composeSettingsOf } = await import('../compose/override.ts');
    const { renderK8sYaml } = await import('../fleet/k8s/render.ts');
        const { serviceImage } = await import('../compose/services.ts');
    const { fleetSelection, printOrWrite } = await import('./fleet-output.ts');
    if (flags._[0] !== 'render' || flags._.length > 1) {
      throw new UsageError(flags._.length ? `Unknown k8s subcommand "${flags._.join(' ')}".` : 'Which k8s subcommand?', { hint: 'Use modelmount k8s render (modelmount k8s --help).' });
    }
    const ctx = await loadContext(flags, io, signal);
    const artifacts = fleetSelection(ctx, flags);
    const compose = composeSettingsOf(ctx.manifest);
    const service = compose.services[0]!;
    const appImage = flags['app-image'] ?? (await serviceImage(ctx.manifest, service, { signal }));
    if (!appImage) throw new UsageError(`The Compose files give service ${service} no \`image:\`.`, { hint: 'Pass --app-image NAME (the image your cluster runs).' });
    const yaml = renderK8sYaml({
      manifest: ctx.manifest,
      manifestText: await fs.readFile(ctx.manifest.path, 'utf8'),
      artifacts,
      pattern: oneOf<K8sPattern>('pattern', flags.pattern, ['init', 'pvc'], 'init'),
      volume: oneOf<K8sVolume>('volume', flags.volume, ['emptyDir', 'hostPath'], 'emptyDir'),
      kind: oneOf<K8sKind>('kind', flags.kind, ['Deployment', 'Pod'], 'Deployment'),
      restartPolicy: oneOf('restart-policy', flags['restart-policy'], ['Always', 'OnFailure', 'Never'] as const, 'Always'),
      name: flags.name ?? service,
      ...(flags.namespace ? { namespace: flags.namespace } : {}),
      image: flags.image ?? DEFAULT_IMAGE,
      appImage,
      appName: service,
      hostDir: flags['host-dir'] ? path.resolve(io.cwd, flags['host-dir']) : ctx.hostDir,
      ...(flags.storage ? { storage: flags.storage } : {}),
    });
    const file = await printOrWrite(yaml, flags.output, io);
    if (file) io.stderr.write(`Wrote ${file}.\n`);
    return ExitCode.ok;
  },
});
