// A child process for data-dir-lock.test.ts: waits for "go" on stdin, tries to lock the
// data directory given as argv[2], prints "won" or "lost <message>", then holds whatever
// it got until stdin closes.
import { createInterface } from 'node:readline';
import { lockDataDir } from '../../ts/fileserver/data-dir-lock.js';

const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
lines.once('line', () => {
  try {
    lockDataDir(process.argv[2]!);
    process.stdout.write('won\n');
  } catch (err) {
    process.stdout.write(`lost ${(err as Error).message}\n`);
  }
});
lines.once('close', () => process.exit(0));
