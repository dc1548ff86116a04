/** Every subcommand, in the order `modelmount --help` lists them. */
import type { CommandSpec } from '../cli/command.ts';
import { demoCommand } from './demo-command.ts';
import { updateCommand } from './update-command.ts';
import { verifyCommand } from './verify-command.ts';
import { warmCommand } from './warm-command.ts';

export const commands: CommandSpec[] = [updateCommand, verifyCommand, warmCommand, demoCommand];
