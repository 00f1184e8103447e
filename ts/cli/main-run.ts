// Entry point of the CLI bundle (dist/ts/cli/run-bundle.js, built by build-bundle.ts):
// `sway run ...` and `sway --version` only, the invocations whose start-up every run
// pays. bin/sway.js sends nothing else here: every other command goes through main.ts.
// Same output as main.ts for these argvs (test/cli/start-up.test.ts compares them).
import { RunCommand } from './commands/run.js';
import { isVersionOnly, runCli } from './cli.js';

const argv = process.argv.slice(2);
await runCli(argv, isVersionOnly(argv) ? [] : [RunCommand]);
