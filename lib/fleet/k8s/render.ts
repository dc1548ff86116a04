/**
 * `modelmount k8s render`: Kubernetes YAML for the two common ways to give pods verified models.
 * Pure: manifest + selection + options → objects → YAML (same input, same bytes).
 *
 *   init  the app's pod gets an initContainer (the modelmount image) that installs and verifies
 *         the selection into a volume (emptyDir, or the node's hostPath so the next pod on that
 *         node finds it in place) before the app container mounts it readOnly.
 *   pvc   a Job fills a PersistentVolumeClaim once; the app's pods mount the claim readOnly
 *         (ReadOnlyMany: many pods, many nodes).
 *
 * The manifest comes from a ConfigMap; each source's token (its `tokenEnv`) from a Secret the
 * user creates (never rendered: a secret in a file in git is the leak we avoid). Labels carry a
 * short form of the set digest (label values are at most 63 characters), annotations the whole.
 */
import { stringify } from 'yaml';
import { composeSettingsOf } from '../../compose/override.ts';
import { UsageError } from '../../errors.ts';
import type { Artifact, Manifest } from '../../manifest/schema.ts';
import { selectionDigest } from '../../manifest/digest.ts';
import { NODE_CACHE_DIR } from '../swarm/provision.ts';

/** not below /etc or /run: relative folders in the manifest resolve here, and modelmount refuses system folders */
export const K8S_MANIFEST_DIR = '/modelmount/manifest';
export const K8S_MODELS_DIR = '/models';
export const K8S_STORE_DIR = '/var/cache/modelmount';
export const SET_LABEL = 'modelmount.io/set';
export const SET_ANNOTATION = 'modelmount.io/set-digest';
export const ARTIFACTS_ANNOTATION = 'modelmount.io/artifacts';

export type K8sPattern = 'init' | 'pvc';
export type K8sVolume = 'emptyDir' | 'hostPath';
export type K8sKind = 'Deployment' | 'Pod';

export interface K8sRenderOptions {
  manifest: Manifest;
  manifestText: string;
  artifacts: readonly Artifact[];
  pattern: K8sPattern;
  /** init pattern: where the models live */
  volume: K8sVolume;
  /** the app's workload kind (init pattern; pvc renders a Deployment) */
  kind: K8sKind;
  /** base name of every object */
  name: string;
  namespace?: string;
  /** the modelmount image */
  image: string;
  /** the app's image and container name */
  appImage: string;
  appName: string;
  /** hostPath: the node folder (default the manifest's hostDir) */
  hostDir: string;
  /** pvc: requested size, e.g. 2Gi (default: the selection's size plus a quarter, in Mi) */
  storage?: string;
  /** Pod/Deployment restart policy of the app pod (Pod kind only; Deployment is always Always) */
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
}

type Obj = Record<string, unknown>;

function dnsName(s: string): string {
  const n = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 52);
  if (!n) throw new UsageError(`"${s}" gives no usable Kubernetes name.`, { hint: 'Pass --name with letters, digits and "-".' });
  return n;
}

/** Containers that fill the models volume: `swarm node-run` = update of exactly these ids + verify + one result line. */
function fillContainer(o: K8sRenderOptions, ids: string[], secretName: string): Obj {
  const tokens = [...new Set(o.manifest.sources.map((s) => s.tokenEnv).filter((t): t is string => Boolean(t)))].sort();
  return {
    name: 'modelmount',
    image: o.image,
    args: ['swarm', 'node-run', '--manifest', `${K8S_MANIFEST_DIR}/models.yaml`, '--host-dir', K8S_MODELS_DIR, '--cache-dir', K8S_STORE_DIR, '--only', ids.join(',')],
    ...(tokens.length ? { env: tokens.map((t) => ({ name: t, valueFrom: { secretKeyRef: { name: secretName, key: t, optional: true } } })) } : {}),
    volumeMounts: [
      { name: 'modelmount-manifest', mountPath: K8S_MANIFEST_DIR, readOnly: true },
      { name: 'models', mountPath: K8S_MODELS_DIR },
      { name: 'modelmount-store', mountPath: K8S_STORE_DIR },
    ],
  };
}

function appContainer(o: K8sRenderOptions): Obj {
  const compose = composeSettingsOf(o.manifest);
  const env = o.artifacts
    .filter((a) => a.env)
    .map((a) => ({ name: a.env!, value: `${compose.containerDir}/${a.id}` }))
    .sort((x, y) => (x.name < y.name ? -1 : 1));
  return {
    name: o.appName,
    image: o.appImage,
    ...(env.length ? { env } : {}),
    // the whole volume at containerDir: <containerDir>/<artifact id> is each artifact's folder, as with Compose
    volumeMounts: [{ name: 'models', mountPath: compose.containerDir, readOnly: true }],
  };
}

/** Render every object of the chosen pattern (pure). */
export function renderK8sObjects(o: K8sRenderOptions): Obj[] {
  if (!o.artifacts.length) throw new UsageError('Nothing is selected: there is nothing to render.', { hint: 'Check --only / --labels.' });
  const name = dnsName(o.name);
  const digest = selectionDigest(o.artifacts);
  const ids = o.artifacts.map((a) => a.id);
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/managed-by': 'modelmount', [SET_LABEL]: digest.slice(0, 32) };
  const annotations = { [SET_ANNOTATION]: digest, [ARTIFACTS_ANNOTATION]: ids.join(',') };
  const meta = (n: string, extra: Obj = {}) => ({ name: n, ...(o.namespace ? { namespace: o.namespace } : {}), labels: { ...labels }, annotations: { ...annotations }, ...extra });
  const configMapName = `${name}-manifest`;
  const secretName = `${name}-tokens`;
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(configMapName), data: { 'models.yaml': o.manifestText } };
  const manifestVolume = { name: 'modelmount-manifest', configMap: { name: configMapName } };

  const bytes = o.artifacts.reduce((s, a) => s + a.files.reduce((t, f) => t + f.size, 0), 0);
  if (o.pattern === 'init') {
    const models = o.volume === 'hostPath' ? { name: 'models', hostPath: { path: o.hostDir, type: 'DirectoryOrCreate' } } : { name: 'models', emptyDir: {} };
    // the store: an emptyDir next to an emptyDir (nothing to reuse); the node's store folder next to hostPath
    // (outside the host folder, which the app mounts)
    const store = o.volume === 'hostPath' ? { name: 'modelmount-store', hostPath: { path: NODE_CACHE_DIR, type: 'DirectoryOrCreate' } } : { name: 'modelmount-store', emptyDir: {} };
    const podSpec = {
      ...(o.kind === 'Pod' ? { restartPolicy: o.restartPolicy ?? 'Always' } : {}),
      initContainers: [fillContainer(o, ids, secretName)],
      containers: [appContainer(o)],
      volumes: [manifestVolume, models, store],
    };
    const workload =
      o.kind === 'Pod'
        ? { apiVersion: 'v1', kind: 'Pod', metadata: meta(name), spec: podSpec }
        : {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: meta(name),
            spec: {
              replicas: 1,
              selector: { matchLabels: { 'app.kubernetes.io/name': name } },
              template: { metadata: { labels: { ...labels }, annotations: { ...annotations } }, spec: podSpec },
            },
          };
    return [configMap, workload];
  }

  const claim = `${name}-models`;
  const storage = o.storage ?? `${Math.max(1, Math.ceil((bytes * 1.25) / 2 ** 20))}Mi`;
  const pvc = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: meta(claim),
    // the Job writes it once (ReadWriteOnce); the app's pods read it from any node (ReadOnlyMany)
    spec: { accessModes: ['ReadWriteOnce', 'ReadOnlyMany'], resources: { requests: { storage } } },
  };
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    // one Job per set: a new selection or new bytes is a new Job, re-applying the same one changes nothing
    metadata: meta(`${name}-fill-${digest.slice(0, 10)}`),
    spec: {
      backoffLimit: 3,
      template: {
        metadata: { labels: { ...labels }, annotations: { ...annotations } },
        spec: {
          restartPolicy: 'OnFailure',
          containers: [fillContainer(o, ids, secretName)],
          volumes: [manifestVolume, { name: 'models', persistentVolumeClaim: { claimName: claim } }, { name: 'modelmount-store', emptyDir: {} }],
        },
      },
    },
  };
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(name),
    spec: {
      replicas: 2,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      template: {
        metadata: { labels: { ...labels }, annotations: { ...annotations } },
        spec: { containers: [appContainer(o)], volumes: [{ name: 'models', persistentVolumeClaim: { claimName: claim, readOnly: true } }] },
      },
    },
  };
  return [configMap, pvc, job, deployment];
}

export function renderK8sYaml(o: K8sRenderOptions): string {
  const objects = renderK8sObjects(o);
  const tokens = [...new Set(o.manifest.sources.map((s) => s.tokenEnv).filter(Boolean))];
  const name = dnsName(o.name);
  const head = [
    `# Generated by modelmount (k8s render --pattern ${o.pattern}). Set ${selectionDigest(o.artifacts)}: ${o.artifacts.map((a) => a.id).join(', ')}.`,
    ...(tokens.length ? [`# Tokens come from the Secret ${name}-tokens: kubectl create secret generic ${name}-tokens ${tokens.map((t) => `--from-literal=${t}=...`).join(' ')}`] : []),
    ...(o.pattern === 'pvc' ? [`# Apply, wait for the Job (kubectl wait --for=condition=complete job/${name}-fill-${selectionDigest(o.artifacts).slice(0, 10)}), then the pods start on verified models.`] : []),
  ];
  return `${head.join('\n')}\n${objects.map((x) => stringify(x, { lineWidth: 0, indent: 2, indentSeq: true })).join('---\n')}`;
}
