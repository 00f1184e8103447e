// Run the `sway` command line with a given set of commands: the builtins (--help,
// --version), those commands, the stall guard, the exit status. Shared by main.ts (every
// command, loaded by argv's first word) and main-run.ts (the bundled fast path of
// `sway run`), so both print exactly the same things.
import { Cli, Builtins, type CommandClass } from 'clipanion';
import { readFileSync } from 'node:fs';
import { awaitOrFailIfStalled } from './unsettled-guard.js';

export async function runCli(argv: string[], commands: CommandClass[]): Promise<void> {
  // dist/ts/cli/ (main.js, and the bundle that sits beside it) → the checkout's package.json.
  const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const cli = new Cli({
    binaryLabel: 'sway — a lazy-loading container runtime',
    binaryName: 'sway',
    binaryVersion: version,
  });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const command of commands) cli.register(command);
  process.exitCode = await awaitOrFailIfStalled(cli.run(argv, Cli.defaultContext));
}

/** `sway --version` (or -v) and nothing else: no command is needed. */
export function isVersionOnly(argv: readonly string[]): boolean {
  return argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v');
}
