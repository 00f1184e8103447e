// The `sway` command line. Each command is one class in ts/cli/commands/; index.ts there
// registers them and imports only the ones this invocation can reach (start-up time).
// `sway --version` alone needs no command at all. bin/sway.js runs the bundle of
// main-run.ts instead for `sway run` and `sway --version` when it is built and fresh.
import { loadCommandsFor } from './commands/index.js';
import { isVersionOnly, runCli } from './cli.js';

const argv = process.argv.slice(2);
await runCli(argv, isVersionOnly(argv) ? [] : await loadCommandsFor(argv));
