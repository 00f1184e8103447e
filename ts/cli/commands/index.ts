// Every command the CLI knows, one class per file in this folder.
import type { CommandClass } from 'clipanion';
import { FileserverCommand, FileserverAddUserCommand, FileserverGcCommand } from './fileserver.js';
import { RunsCommand } from './runs.js';

export const COMMANDS: CommandClass[] = [
  FileserverCommand,
  FileserverAddUserCommand,
  FileserverGcCommand,
  RunsCommand,
];
