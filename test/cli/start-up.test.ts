// The CLI's start-up work: `sway WORD ...` imports only WORD's commands, and `sway run`
// and `sway --version` import none of the heavy dependencies (undici, koa, SQLite,
// prom-client, tar-stream, the image code) and, when esbuild is installed (npm ci), run
// from the one-file bundle (ts/cli/build-bundle.ts). And that loading fewer commands, or
// the bundle, changes no output: help texts, usage errors, suggestions and exit statuses
// are those of the CLI with every command registered (test/cli/full-cli.ts), argv by argv.
// Deliberately does not measure time (bench/cli-start.bench.ts does, against main).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { runCommand, runSway, SWAY_BIN } from '../helpers/cli.js';
import { makeTempDir, REPO_ROOT } from '../helpers/tmp.js';
import { MAX_RUNS_LISTED } from '../../ts/cli/commands/runs.js';
import { MAX_RECENT } from '../../ts/worker/run-log.js';
import { COMMANDS_BY_WORD, loadAllCommands } from '../../ts/cli/commands/index.js';

const RECORDER = join(REPO_ROOT, 'dist', 'test', 'cli', 'import-recorder.js');
const FULL_CLI = join(REPO_ROOT, 'dist', 'test', 'cli', 'full-cli.js');
const BUNDLE_BUILT = (() => { try { createRequire(import.meta.url).resolve('esbuild'); return true; } catch { return false; } })();
const HEAVY = /\/node_modules\/(undici|koa|better-sqlite3|prom-client|tar-stream)\/|\/dist\/ts\/(image\/(?!exported\.js)|fileserver\/|worker\/(?!client)|common\/(http-client|fileserver-client|server)\.js)/;

async function importsOf(args: string[], cwd: string, logName: string) {
  const log = join(cwd, logName);
  writeFileSync(log, '');
  const r = await runCommand(process.execPath, ['--import', RECORDER, SWAY_BIN, ...args], { cwd, env: { SWAY_TEST_IMPORT_LOG: log } });
  return { ...r, imports: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

test('sway --version and sway run import no heavy module; sway run of a small script needs no fileserver setting', async (t) => {
  const dir = await makeTempDir(t, 'sway-cli-start-');
  writeFileSync(join(dir, 'app.sh'), 'echo hi\n');
  const version = await importsOf(['--version'], dir, 'version.log');
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout, '0.1.0\n');
  assert.ok(version.imports.some((u) => u.endsWith('/dist/ts/cli/main.js') || u.endsWith('/dist/ts/cli/run-bundle.js')), 'the recorder saw the CLI load');
  assert.deepEqual(version.imports.filter((u) => u.includes('/dist/ts/cli/commands/') && !u.endsWith('/index.js')), [], '--version loads no command');
  assert.deepEqual(version.imports.filter((u) => HEAVY.test(u)), [], '--version imports none of them');

  const worker = ['--worker', 'https://127.0.0.1:1', '--token', 't', '--image', 'img'];
  for (const [what, args] of [['command', ['run', ...worker, '--', 'true']], ['script', ['run', ...worker, 'app.sh']]] as const) {
    const r = await importsOf([...args], dir, `${what}.log`);
    assert.equal(r.code, 125, r.stderr);
    assert.equal(r.stderr, 'sway: worker unreachable at https://127.0.0.1:1: ECONNREFUSED\n', `${what}: reached the worker step with no fileserver configured`);
    assert.ok(r.imports.some((u) => u.endsWith('/dist/ts/cli/commands/run.js') || u.endsWith('/dist/ts/cli/run-bundle.js')), what);
    if (BUNDLE_BUILT) assert.ok(r.imports.some((u) => u.endsWith('/dist/ts/cli/run-bundle.js')), `sway run (${what}) runs from the bundle`);
    else t.diagnostic('esbuild is not installed: the bundle was not built, sway run ran unbundled');
    assert.deepEqual(r.imports.filter((u) => HEAVY.test(u)), [], `sway run (${what}) imports none of them`);
    assert.deepEqual(r.imports.filter((u) => /\/dist\/ts\/cli\/commands\/(?!run\.js|index\.js)/.test(u)), [], `sway run (${what}) imports no other command`);
  }
});

const ARGVS: string[][] = [
  [], ['--help'], ['-h'], ['help'], ['--version'], ['-v'], ['--version', 'extra'], ['-v', 'run'],
  ['run'], ['run', '--help'], ['run', '-h'], ['run', '--bogus', 'x.py'], ['run', 'x.py'], ['run', '--memory', 'lots', '--', 'true'],
  ['runs', '--help'], ['runs', '--limit', '0'], ['runs', '--bogus'],
  ['fileserver', '--help'], ['fileserver', 'adduser'], ['fileserver', 'adduser', '--help'], ['fileserver', 'gc', '--grace', 'x'], ['fileserver', 'bogus'],
  ['worker', '--help'], ['worker', 'verify-cache', '--help'], ['worker', 'bogus'],
  ['up', '--help'], ['down', '--help'], ['export', '--help'], ['export', '--bogus'],
  ['rn'], ['runn', 'x'], ['file'], ['--fileserver', 'x', 'run'],
];

test('registering only the commands argv can reach, or running from the bundle, changes no help text, error, suggestion or exit status', async (t) => {
  const dir = await makeTempDir(t, 'sway-cli-help-');
  assert.equal((await loadAllCommands()).length, 11, 'every command is in a word group');
  const byWord = Object.keys(COMMANDS_BY_WORD);
  for (const word of byWord) assert.ok(ARGVS.some((a) => a[0] === word), `${word} is covered below`);
  for (const argv of ARGVS) {
    const [lazy, full] = await Promise.all([runSway(argv, { cwd: dir }), runCommand(process.execPath, [FULL_CLI, ...argv], { cwd: dir })]);
    assert.equal(lazy.code, full.code, `exit of sway ${argv.join(' ')}`);
    assert.equal(lazy.stdout, full.stdout, `stdout of sway ${argv.join(' ')}`);
    assert.equal(lazy.stderr, full.stderr, `stderr of sway ${argv.join(' ')}`);
  }
  // `sway run` of a small script, bundled and not, up to the worker step (no worker there).
  writeFileSync(join(dir, 'app.sh'), 'echo hi\n');
  for (const args of [['run', '--worker', 'https://127.0.0.1:1', '--token', 't', '--image', 'i', 'app.sh'], ['run', '--token', 't', '--image', 'i', 'app.sh'], ['run', '--worker', 'https://127.0.0.1:1', '--token', 't', 'app.sh']]) {
    const [bundled, unbundled] = await Promise.all([runSway(args, { cwd: dir }), runSway(args, { cwd: dir, env: { SWAY_CLI_NO_BUNDLE: '1' } })]);
    assert.equal(bundled.code, 125, bundled.stderr);
    assert.deepEqual(bundled, unbundled, args.join(' '));
  }
});

test('sway runs checks --limit against the worker\'s own ceiling', () => {
  assert.equal(MAX_RUNS_LISTED, MAX_RECENT);
});
