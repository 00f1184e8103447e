// The CLI's guard against a command that stalls without settling: node would exit 0 with
// nothing done; the guard makes it one line and exit 125. A settled command keeps its
// own result and exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCommand } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/tmp.js';

const GUARD = pathToFileURL(join(REPO_ROOT, 'dist', 'ts', 'cli', 'unsettled-guard.js')).href;

function script(work: string): string {
  return `const { awaitOrFailIfStalled } = await import(${JSON.stringify(GUARD)});
const r = await awaitOrFailIfStalled(${work});
process.stdout.write('settled ' + r + '\\n');
process.exitCode = 3;`;
}

test('a command promise left waiting on nothing exits 125 with one line, not 0', async () => {
  const r = await runCommand(process.execPath, ['--input-type=module', '-e', script('new Promise(() => {})')]);
  assert.equal(r.code, 125, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^sway: internal error: the command stopped before it finished/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('a command that settles keeps its result and exit code', async () => {
  const r = await runCommand(process.execPath, ['--input-type=module', '-e', script('new Promise((ok) => setTimeout(() => ok(7), 50))')]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'settled 7\n');
  assert.equal(r.stderr, '');
});
