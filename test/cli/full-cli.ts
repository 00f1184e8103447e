// The reference CLI for test/cli/start-up.test.ts: bin/sway.js's main, but with every
// command registered whatever argv is (what main.ts did before it registered only the
// commands argv can reach). Run as `node dist/test/cli/full-cli.js ARGS...`.
import { Cli, Builtins } from 'clipanion';
import { loadAllCommands } from '../../ts/cli/commands/index.js';

const cli = new Cli({ binaryLabel: 'sway — a lazy-loading container runtime', binaryName: 'sway', binaryVersion: '0.1.0' });
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);
for (const command of await loadAllCommands()) cli.register(command);
process.exitCode = await cli.run(process.argv.slice(2), Cli.defaultContext);
