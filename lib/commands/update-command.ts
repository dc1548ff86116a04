import { defineCommand } from '../cli/command.ts';
import { formatExamples, commandFor } from '../invocation.ts';
import { postInstallOptions, updateOptions } from './options.ts';
import { UPDATE_FLAGS } from './specs.ts';

export const updateCommand = defineCommand({
  name: 'update',
  summary: 'download or copy, verify and install the selected artifacts (then write the Compose override and smoke-test)',
  usage: 'modelmount update [ID...] [--only IDS] [--labels K=V] [--include-optional] [--prune] [--source NAME] [--yes] [--dry-run] [--json]',
  operands: 'artifacts',
  flags: UPDATE_FLAGS,
  get details() {
    return `Selection adds to what is installed: \`update student/v0_ja\` (or --only, --labels,
--include-optional) installs that artifact and keeps every installed one mounted. Without any
selection: every non-optional artifact, plus what is installed. Only --prune removes installed
artifacts from the override; their folders stay on the host until \`gc\`.

Examples:\n${formatExamples([
      [commandFor('update'), 'interactive on a terminal, safe defaults elsewhere'],
      [commandFor('update', '--yes --labels lang=ja'), 'unattended: add the Japanese models'],
      [commandFor('update', 'student/v0_en'), 'add the English student, keep the rest'],
      [commandFor('update', '--prune --labels lang=ja'), 'Japanese models only: asks before unmounting the rest'],
      [commandFor('update', '--dry-run'), 'show what would happen'],
      [commandFor('update', '--yes --apply'), 'then recreate the services on the new release set'],
    ])}`;
  },
  async run(flags, io, signal) {
    const { updateAndDeploy } = await import('../update/update-and-deploy.ts');
    return updateAndDeploy({ ...updateOptions(flags), ...postInstallOptions(flags) }, io, signal);
  },
});
