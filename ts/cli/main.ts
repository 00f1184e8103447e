// The `sway` command line. Each command is one class in ts/cli/commands/; this file
// only registers them. Add a command: write its class, add it to COMMANDS below.
import { Cli, Builtins, type CommandClass } from 'clipanion';
import { createRequire } from 'node:module';
import { COMMANDS } from './commands/index.js';
import { awaitOrFailIfStalled } from './unsettled-guard.js';

const require = createRequire(import.meta.url);
const { version } = require('../../../package.json') as { version: string };

const cli = new Cli({
  binaryLabel: 'sway — a lazy-loading container runtime',
  binaryName: 'sway',
  binaryVersion: version,
});
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);
for (const command of COMMANDS as CommandClass[]) cli.register(command);

const exitCode = await awaitOrFailIfStalled(cli.run(process.argv.slice(2), Cli.defaultContext));
process.exitCode = exitCode;
