// Every command the CLI knows, one class per file in this folder.
import type { CommandClass } from 'clipanion';

export const COMMANDS: CommandClass[] = [
];
