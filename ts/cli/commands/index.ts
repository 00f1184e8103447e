// Every command the CLI knows, one class per file in this folder.
import type { CommandClass } from 'clipanion';
import { FileserverCommand, FileserverAddUserCommand, FileserverRotateTokenCommand, FileserverGcCommand } from './fileserver.js';
import { RunsCommand } from './runs.js';
import { WorkerCommand } from './worker.js';
import { WorkerVerifyCacheCommand } from './worker-verify-cache.js';
import { RunCommand } from './run.js';
import { UpCommand } from './up.js';
import { DownCommand } from './down.js';
import { ExportCommand } from './export.js';

export const COMMANDS: CommandClass[] = [
  FileserverCommand,
  FileserverAddUserCommand,
  FileserverRotateTokenCommand,
  FileserverGcCommand,
  RunsCommand,
  WorkerCommand,
  WorkerVerifyCacheCommand,
  RunCommand,
  UpCommand,
  DownCommand,
  ExportCommand,
];
