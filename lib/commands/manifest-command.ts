/**
 * `modelmount manifest add <folder> --id ID` and `modelmount manifest check [FILE…]`: authoring for
 * whoever publishes a model version, and validation for the model repository's CI (the work:
 * lib/author/manifest-add.ts).
 */
import { defineCommand } from '../cli/command.ts';
import { UsageError } from '../errors.ts';
import { commandFor, formatExamples } from '../invocation.ts';
import { JSON_FLAG } from './specs.ts';

export const manifestCommand = defineCommand({
  name: 'manifest',
  operands: 'own',
  summary: 'author the manifest: `add <folder> --id ID` hashes a folder into an artifact entry; `check` validates (exit 2 on errors)',
  usage: 'modelmount manifest add <folder | s3://bucket/prefix/> --id ID [--labels K=V] [--env NAME] [--description TEXT] [--optional] [--dry-run] | modelmount manifest check [FILE...]',
  flags: [
    { name: 'id', type: 'string', value: 'ID', help: 'add: the artifact id, e.g. student/v1_ja (its folder under the host folder)' },
    { name: 'labels', type: 'list', value: 'K=V', help: 'add: labels, e.g. role=student,lang=ja (replace the existing labels)' },
    { name: 'env', type: 'string', value: 'NAME', help: 'add: environment variable that gets the container path, e.g. LEARNING_MACHINE_STUDENT_JA_DIR' },
    { name: 'description', type: 'string', value: 'TEXT', help: 'add: one line describing the artifact' },
    { name: 'optional', type: 'boolean', help: 'add: mark the artifact optional (installed only when asked for)' },
    { name: 'dry-run', type: 'boolean', help: 'add: hash and show the entry, write nothing' },
    { name: 'endpoint', type: 'string', value: 'URL', help: 'add s3://…: an S3-compatible server (path-style), e.g. http://127.0.0.1:7480' },
    { name: 'region', type: 'string', value: 'NAME', help: 'add s3://…: the bucket region (default: AWS_REGION, the profile, us-east-1 with --endpoint)' },
    { name: 'profile', type: 'string', value: 'NAME', help: 'add s3://…: the AWS profile for credentials' },
    { name: 'jobs', type: 'number', value: 'N', env: 'MODELS_JOBS', alias: 'j', help: 'add: files hashed at once (default 1 per core, 2 to 4)' },
    JSON_FLAG,
  ],
  get details() {
    return `add refuses symlinks, sockets and unsafe or colliding file names; an existing artifact with the
same id gets its files replaced (and the labels/env/description given); every other line of
the manifest, comments included, stays as it was. The result is validated before it is written.
check validates every FILE (default: --manifest) and lists every problem with file:line:column.

Examples:
${formatExamples([
  [commandFor('manifest add', './out/student_ja --id student/v1_ja --labels role=student,lang=ja')],
  [commandFor('manifest check'), "in the model repository's CI"],
])}`;
  },
  async run(flags, io, signal) {
    const { formatAdd, manifestAdd } = await import('../author/manifest-add.ts');
    const { formatCheck, manifestCheck } = await import('../author/manifest-check.ts');
    const sub = flags._[0];
    if (sub === 'add') {
      const report = await manifestAdd(
        {
          manifest: flags.manifest,
          args: flags._.slice(1),
          id: flags.id,
          labels: flags.labels,
          env: flags.env,
          description: flags.description,
          optional: Boolean(flags.optional),
          dryRun: Boolean(flags['dry-run']),
          endpoint: flags.endpoint,
          region: flags.region,
          profile: flags.profile,
          jobs: flags.jobs,
          json: Boolean(flags.json),
        },
        io,
        signal,
      );
      io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatAdd(report, io.cwd));
      return 0;
    }
    if (sub === 'check') {
      const report = await manifestCheck({ manifest: flags.manifest, files: flags._.slice(1) }, io, signal);
      io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatCheck(report, io.cwd));
      return 0;
    }
    throw new UsageError(sub ? `Unknown manifest subcommand "${sub}".` : 'manifest needs a subcommand: add or check.', {
      hint: `${commandFor('manifest add', '<folder> --id <id>')}, or ${commandFor('manifest check')}. See ${commandFor('manifest', '--help')}.`,
    });
  },
});
