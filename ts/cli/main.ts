// The `sway` command line. Each command is one class in ts/cli/commands/; index.ts there
// registers them and imports only the ones this invocation can reach (start-up time).
// `sway --version` alone needs no command at all.
import { Cli, Builtins } from 'clipanion';
import { readFileSync } from 'node:fs';
import { loadCommandsFor } from './commands/index.js';
import { awaitOrFailIfStalled } from './unsettled-guard.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const argv = process.argv.slice(2);
const cli = new Cli({
  binaryLabel: 'sway — a lazy-loading container runtime',
  binaryName: 'sway',
  binaryVersion: version,
});
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);
const versionOnly = argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v');
if (!versionOnly) for (const command of await loadCommandsFor(argv)) cli.register(command);

const exitCode = await awaitOrFailIfStalled(cli.run(argv, Cli.defaultContext));
process.exitCode = exitCode;
