// `sway worker` and `sway run` refuse a bad set-up with one clear line and exit 125:
// no fileserver, no token, a token the fileserver refuses; `sway run` without a worker
// configured or with an invalid limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { makeTempDir } from '../helpers/tmp.js';
import { runSway } from '../helpers/cli.js';
import { startFixture } from '../fileserver/fixture.js';

function assertOneLine125(r: { code: number | null; stderr: string }, re: RegExp): void {
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
}

test('sway worker: missing fileserver, missing token, refused token', { timeout: 120_000 }, async (t) => {
  const dir = await makeTempDir(t, 'sway-worker-cli-');
  const data = join(dir, 'data');
  assertOneLine125(await runSway(['worker', '--data-dir', data, '--port', '0']), /no fileserver configured/);
  assertOneLine125(await runSway(['worker', '--data-dir', data, '--port', '0', '--fileserver', 'https://127.0.0.1:1']), /no worker token/);
  assertOneLine125(await runSway(['worker', '--data-dir', data, '--port', '0', '--fileserver', 'https://127.0.0.1:1', '--token-file', join(dir, 'nope')]), /cannot read --token-file/);
  assertOneLine125(await runSway(['worker', '--data-dir', data, '--port', '0', '--fileserver', 'https://127.0.0.1:1', '--token', 'x', '--runtime', 'docker']), /invalid --runtime/);
  const fx = await startFixture(t);
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'not-a-real-token\n');
  assertOneLine125(await runSway(['worker', '--data-dir', data, '--host', '127.0.0.1', '--port', '0', '--fileserver', fx.server.url, '--ca', fx.server.caCertPath, '--token-file', tokenFile]), /refused the worker token/);
});

test('sway run: no worker configured, bad limits, bad --env', { timeout: 120_000 }, async (t) => {
  const dir = await makeTempDir(t, 'sway-run-cli-');
  await writeFile(join(dir, 'x.sh'), 'echo\n');
  const base = ['run', '--image', 'img', '--token', 't', '--fileserver', 'https://127.0.0.1:1'];
  assertOneLine125(await runSway([...base, '--', 'true'], { cwd: dir }), /no worker configured/);
  assertOneLine125(await runSway([...base, '--worker', 'https://127.0.0.1:1', '--memory', 'lots', '--', 'true'], { cwd: dir }), /invalid --memory/);
  assertOneLine125(await runSway([...base, '--worker', 'https://127.0.0.1:1', '--env', 'NOEQUALS', '--', 'true'], { cwd: dir }), /must be KEY=VALUE/);
  assertOneLine125(await runSway([...base, '--worker', 'http://127.0.0.1:1', '--', 'true'], { cwd: dir }), /must start with https/);
  // The fileserver being down is not fatal for the upload check (the worker may know the script).
  assertOneLine125(await runSway([...base, '--worker', 'https://127.0.0.1:1', 'x.sh'], { cwd: dir }), /worker unreachable/);
});
