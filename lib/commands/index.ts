/** Every subcommand, in the order `modelmount --help` lists them. */
import type { CommandSpec } from '../cli/command.ts';
import { applyCommand } from './apply-command.ts';
import { bootstrapCommand } from './bootstrap-command.ts';
import { initCommand } from './init-command.ts';
import { composeCommand } from './compose-command.ts';
import { demoCommand } from './demo-command.ts';
import { doctorCommand } from './doctor-command.ts';
import { smokeCommand } from './smoke-command.ts';
import { statusCommand } from './status-command.ts';
import { swarmCommand } from './swarm-command.ts';
import { k8sCommand } from './k8s-command.ts';
import { gcCommand } from './gc-command.ts';
import { manifestCommand } from './manifest-command.ts';
import { publishCommand } from './publish-command.ts';
import { rollbackCommand } from './rollback-command.ts';
import { updateCommand } from './update-command.ts';
import { verifyCommand } from './verify-command.ts';
import { warmCommand } from './warm-command.ts';

export const commands: CommandSpec[] = [initCommand, bootstrapCommand, updateCommand, applyCommand, rollbackCommand, verifyCommand, composeCommand, doctorCommand, smokeCommand, warmCommand, statusCommand, gcCommand, manifestCommand, publishCommand, swarmCommand, k8sCommand, demoCommand];
