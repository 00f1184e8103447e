// Every command the CLI knows, one class per file in this folder, grouped by the first
// word of their path so that a `sway WORD ...` invocation imports only WORD's module(s):
// importing every command costs ~100 ms of start-up that `sway run` would pay each time.
// Anything else (no word, --help, a typo, `sway --version`) loads every command, so
// help listings and "did you mean" suggestions are exactly those of the full CLI.
// Add a command: write its class, add it to its word below (or add a word).
import type { CommandClass } from 'clipanion';

type Loader = () => Promise<CommandClass[]>;

/** First path word → the classes of every command whose path starts with it, in help order. */
export const COMMANDS_BY_WORD: Record<string, Loader> = {
  fileserver: async () => {
    const m = await import('./fileserver.js');
    return [m.FileserverCommand, m.FileserverAddUserCommand, m.FileserverRotateTokenCommand, m.FileserverGcCommand];
  },
  runs: async () => [(await import('./runs.js')).RunsCommand],
  worker: async () => {
    const [w, v] = await Promise.all([import('./worker.js'), import('./worker-verify-cache.js')]);
    return [w.WorkerCommand, v.WorkerVerifyCacheCommand];
  },
  run: async () => [(await import('./run.js')).RunCommand],
  up: async () => [(await import('./up.js')).UpCommand],
  down: async () => [(await import('./down.js')).DownCommand],
  export: async () => [(await import('./export.js')).ExportCommand],
};

/** Every command, in the order `sway --help` lists them. */
export async function loadAllCommands(): Promise<CommandClass[]> {
  const groups = await Promise.all(Object.values(COMMANDS_BY_WORD).map((load) => load()));
  return groups.flat();
}

/** The commands `argv` can reach: its first word's when it is a command word, else all. */
export async function loadCommandsFor(argv: readonly string[]): Promise<CommandClass[]> {
  const word = argv[0];
  if (word !== undefined && Object.hasOwn(COMMANDS_BY_WORD, word)) return COMMANDS_BY_WORD[word]!();
  return loadAllCommands();
}
