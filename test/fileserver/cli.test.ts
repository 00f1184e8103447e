// The `sway fileserver` commands as a user runs them: adduser prints a working token,
// mistakes are one line and exit 125, the server starts, serves and stops on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempDir } from '../helpers/tmp.js';
import { runSway, startSway } from '../helpers/cli.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';

test('adduser prints a token the server accepts; mistakes are one clear line', async (t) => {
  const dir = await makeTempDir(t, 'sway-fs-cli-');
  const add = await runSway(['fileserver', 'adduser', 'carol', '--data-dir', dir]);
  assert.equal(add.code, 0, add.stderr);
  const token = add.stdout.trim();
  assert.match(token, /^sway_[A-Za-z0-9_-]{40,}$/);
  const again = await runSway(['fileserver', 'adduser', 'carol', '--data-dir', dir]);
  assert.equal(again.code, 125);
  assert.equal(again.stderr.trim(), 'sway: user carol already exists');
  const role = await runSway(['fileserver', 'adduser', 'dave', '--role', 'root', '--data-dir', dir]);
  assert.equal(role.code, 125);
  assert.match(role.stderr, /^sway: invalid --role "root"/);
  const name = await runSway(['fileserver', 'adduser', 'Bad Name', '--data-dir', dir]);
  assert.equal(name.code, 125);
  assert.equal(name.stderr.split('\n').filter(Boolean).length, 1);
  const partialTls = await runSway(['fileserver', '--data-dir', dir, '--port', '0', '--tls-cert', '/nonexistent.pem']);
  assert.equal(partialTls.code, 125);
  assert.match(partialTls.stderr, /^sway: pass all of --tls-cert, --tls-key and --tls-ca/);

  const server = startSway(['fileserver', '--data-dir', dir, '--host', '127.0.0.1', '--port', '0']);
  t.after(() => server.stop());
  const m = await server.waitForOutput(/fileserver listening on (https:\/\/\S+) ca=(\S+)/, 120_000);
  const client = new FileserverClient({ url: m[1]!, token, caFile: m[2]! });
  t.after(() => client.close());
  assert.deepEqual(await client.whoami(), { user: 'carol', role: 'user' });
  await client.close();
  const status = await server.stop();
  assert.equal(status.code, 0, server.stderr());
  assert.ok(!server.stderr().includes(token), 'the token must never be logged');
});

test('rotate-token: the new token works, the old one is refused at once by a running server', async (t) => {
  const dir = await makeTempDir(t, 'sway-fs-rotate-');
  const add = await runSway(['fileserver', 'adduser', 'erin', '--data-dir', dir]);
  assert.equal(add.code, 0, add.stderr);
  const oldToken = add.stdout.trim();
  const server = startSway(['fileserver', '--data-dir', dir, '--host', '127.0.0.1', '--port', '0']);
  t.after(() => server.stop());
  const m = await server.waitForOutput(/fileserver listening on (https:\/\/\S+) ca=(\S+)/, 120_000);
  const asOld = new FileserverClient({ url: m[1]!, token: oldToken, caFile: m[2]! });
  t.after(() => asOld.close());
  assert.deepEqual(await asOld.whoami(), { user: 'erin', role: 'user' });

  const rotated = await runSway(['fileserver', 'rotate-token', 'erin', '--data-dir', dir]);
  assert.equal(rotated.code, 0, rotated.stderr);
  const newToken = rotated.stdout.trim();
  assert.match(newToken, /^sway_[A-Za-z0-9_-]{40,}$/);
  assert.notEqual(newToken, oldToken);
  await assert.rejects(asOld.whoami(), (err: Error & { status?: number }) => err.status === 401);
  const asNew = new FileserverClient({ url: m[1]!, token: newToken, caFile: m[2]! });
  t.after(() => asNew.close());
  assert.deepEqual(await asNew.whoami(), { user: 'erin', role: 'user' });

  const unknown = await runSway(['fileserver', 'rotate-token', 'nobody', '--data-dir', dir]);
  assert.equal(unknown.code, 125);
  assert.equal(unknown.stderr, 'sway: no user nobody\n');
  await asOld.close();
  await asNew.close();
  assert.equal((await server.stop()).code, 0, server.stderr());
  assert.ok(!server.stderr().includes(oldToken) && !server.stderr().includes(newToken), 'tokens are never logged');
});
