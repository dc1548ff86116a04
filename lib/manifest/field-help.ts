/**
 * What each manifest field must be and how to fix it (keyed by its path pattern), and the keys
 * each map allows: the words of every schema problem.
 */
import { commandFor } from '../invocation.ts';
import { artifactSchema, composeSchema, fileSchema, manifestSchema, requireSchema, smokeSchema, sourceSchema } from './schema.ts';

export interface FieldHelp {
  /** what a valid value is, completing "must be …" */
  expect: string;
  fix: string;
}

/** Field help keyed by the path with array indexes replaced by `[]`. */
export const FIELDS: Record<string, FieldHelp> = {
  '': {
    expect: 'a map with version, hostDir, sources and artifacts',
    fix: 'Start from manifests/models.yaml in the modelmount repository and edit it.',
  },
  version: { expect: '1', fix: 'Set `version: 1` (the only manifest format this modelmount reads).' },
  hostDir: {
    expect: 'the folder (relative to this manifest) where artifacts are placed for containers to mount',
    fix: 'Set it, e.g. `hostDir: ../learning_machine/artifacts`.',
  },
  cacheDir: {
    expect: 'a folder path (relative to this manifest) for the download store',
    fix: 'Give a folder path, or remove cacheDir to use the default per-user cache.',
  },
  jobs: { expect: 'a whole number from 1 to 64', fix: 'Set e.g. `jobs: 4`, or remove it to use the default.' },
  keepReleases: { expect: 'a whole number from 1 to 100', fix: 'Set e.g. `keepReleases: 3` (release sets kept for rollback), or remove it for the default 3.' },
  sources: {
    expect: 'a list of at least one source',
    fix: 'Add e.g. `sources: [{ name: mirror, url: "https://models.example.com/ml/" }]`.',
  },
  'sources[]': { expect: 'a map with name, url and optionally tokenEnv', fix: 'Write `- name: mirror` and `url: https://…` on the next line.' },
  'sources[].name': {
    expect: 'a short name of letters, digits, "-", "_" or "." (starting with a letter or digit)',
    fix: 'Use a name like `mirror` or `nfs`.',
  },
  'sources[].url': {
    expect: 'an http(s):// base URL, an s3://bucket/prefix/ URL, a file:// URL or a folder path relative to this manifest',
    fix: 'Use e.g. `url: https://models.example.com/ml/`, `url: s3://models/ml/`, `url: file:///mnt/models/` or `url: ../models`.',
  },
  'artifacts[].ociRef': {
    expect: 'a tag or a sha256:<64 hex> digest in the oci source repository',
    fix: 'Use e.g. `ociRef: v0_ja` or `ociRef: sha256:…` (what `modelmount publish` printed), or remove it.',
  },
  'sources[].region': { expect: 'an AWS region name', fix: 'Use e.g. `region: eu-west-1`, or remove it.' },
  'sources[].endpoint': {
    expect: 'the URL of an S3-compatible server',
    fix: 'Use e.g. `endpoint: https://minio.example.internal:9000`, or remove it for AWS S3.',
  },
  'sources[].profile': { expect: 'a profile name from ~/.aws/config', fix: 'Use e.g. `profile: models-readonly`, or remove it.' },
  'sources[].insecure': { expect: 'true or false', fix: 'Write `insecure: true` (plain http to a non-loopback host), or remove it.' },
  'sources[].tokenEnv': {
    expect: 'the name of the environment variable that holds the access token',
    fix: 'Use e.g. `tokenEnv: MODELS_TOKEN` (never put the token itself in the manifest).',
  },
  require: {
    expect: 'a list of rules like `- anyOf: [student/v0_ja, student/v0_en]`',
    fix: 'Write `require:` followed by `  - anyOf: [id, id]`, or remove it.',
  },
  'require[]': { expect: 'a map with anyOf', fix: 'Write `- anyOf: [student/v0_ja, student/v0_en]`.' },
  'require[].anyOf': {
    expect: 'a non-empty list of artifact ids',
    fix: 'List the artifact ids of which at least one must be installed, e.g. `anyOf: [student/v0_ja, student/v0_en]`.',
  },
  'require[].anyOf[]': { expect: 'an artifact id', fix: 'Write an artifact id from this manifest, e.g. student/v0_ja.' },
  artifacts: {
    expect: 'a list of at least one artifact',
    get fix() {
      return `Add an artifact with id and files (\`${commandFor('manifest add')}\` writes the entries for you).`;
    },
  },
  'artifacts[]': { expect: 'a map with id and files', fix: 'Write `- id: student/v0_ja` followed by `files:`.' },
  'artifacts[].id': {
    expect: 'a relative folder path like student/v0_ja',
    fix: 'Set e.g. `id: student/v0_ja`.',
  },
  'artifacts[].description': { expect: 'text', fix: 'Quote the description, e.g. `description: "Japanese student model"`.' },
  'artifacts[].labels': {
    expect: 'a map of label names to values, e.g. { role: student, lang: ja }',
    fix: 'Write labels as `labels: { role: student, lang: ja }`, or remove them.',
  },
  'artifacts[].labels.*': {
    expect: 'a label of letters, digits, "-", "_" or "." (starting with a letter or digit)',
    fix: 'Use short flag-friendly labels like `lang: ja`; they are matched by --labels lang=ja.',
  },
  'artifacts[].optional': { expect: 'true or false', fix: 'Write `optional: true` or `optional: false` (or remove it; the default is false).' },
  'artifacts[].env': {
    expect: 'an environment variable name (letters, digits and "_", not starting with a digit)',
    fix: 'Use e.g. `env: LEARNING_MACHINE_STUDENT_JA_DIR`.',
  },
  'artifacts[].files': {
    expect: 'a non-empty list of files with path, size and sha256',
    get fix() {
      return `List the files (\`${commandFor('manifest add')}\` writes the entries for you).`;
    },
  },
  'artifacts[].files[]': { expect: 'a map with path, size and sha256', fix: 'Write `- path: model.safetensors` followed by size and sha256.' },
  'artifacts[].files[].path': {
    expect: "the file's path inside the artifact folder",
    fix: 'Use e.g. `path: model.safetensors` or `path: tokenizer/vocab.json`.',
  },
  'artifacts[].files[].size': {
    expect: 'the file size in bytes, a whole number >= 0',
    fix: 'Use the output of `stat -c %s <file>`.',
  },
  'artifacts[].files[].sha256': {
    expect: '64 lowercase hex characters',
    fix: 'Replace it with the 64-character output of `sha256sum <file>`.',
  },
  compose: {
    expect: 'a map with files, services, override and containerDir',
    fix: 'See manifests/models.yaml for a complete compose section, or remove it.',
  },
  'compose.files': {
    expect: 'a non-empty list of compose files, relative to this manifest',
    fix: 'Use e.g. `files: [../compose.yaml]`.',
  },
  'compose.files[]': { expect: 'a compose file path', fix: 'Use e.g. `../compose.yaml`.' },
  'compose.services': {
    expect: 'a non-empty list of the services that load the models',
    fix: 'Use e.g. `services: [ml-worker]`.',
  },
  'compose.services[]': { expect: 'a service name', fix: 'Use a service name from your compose file, e.g. ml-worker.' },
  'compose.override': {
    expect: 'the path of the compose override file modelmount writes, relative to this manifest',
    fix: 'Use e.g. `override: ../compose.models.yaml`.',
  },
  'compose.containerDir': {
    expect: 'an absolute folder inside the container, without a trailing "/"',
    fix: 'Use the folder your app reads models from, e.g. `containerDir: /app/learning_machine/artifacts`.',
  },
  'compose.context': {
    expect: 'the docker build context folder, relative to this manifest',
    fix: "Use e.g. `context: ..`, or remove it to use the first compose file's folder.",
  },
  smoke: { expect: 'a map with command and timeoutSeconds', fix: 'Write e.g. `smoke: { command: [python, -m, app.check_models] }`, or remove it.' },
  'smoke.command': {
    expect: 'a non-empty list: program and arguments',
    fix: 'Use e.g. `command: [python, -m, app.check_models]`.',
  },
  'smoke.command[]': { expect: 'text', fix: 'Quote the argument, e.g. "1".' },
  'smoke.timeoutSeconds': { expect: 'a whole number of seconds greater than 0', fix: 'Use e.g. `timeoutSeconds: 300`.' },
};

/** Allowed keys of each strict object, straight from the schema. */
export const OBJECT_KEYS: Record<string, string[]> = {
  '': Object.keys(manifestSchema.shape),
  'sources[]': Object.keys(sourceSchema.shape),
  'require[]': Object.keys(requireSchema.shape),
  'artifacts[]': Object.keys(artifactSchema.shape),
  'artifacts[].files[]': Object.keys(fileSchema.shape),
  compose: Object.keys(composeSchema.shape),
  smoke: Object.keys(smokeSchema.shape),
};
