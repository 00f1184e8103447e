// The TLS directory is what clients and workers are handed (`tls/ca.pem`; `sway up`
// shares it with the worker), so it holds no private key: the CA's key, which can sign a
// certificate for any name, and the server keys live in tls-private/. A data directory
// of the earlier layout (keys beside ca.pem) is moved over at start, same CA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTlsMaterial } from '../../ts/common/tls.js';
import { startFileserver } from '../../ts/fileserver/index.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { makeTempDir } from '../helpers/tmp.js';

/** Files under `dir` (recursively) whose content holds a PEM private key. */
function privateKeysUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .filter((p) => readFileSync(p, 'latin1').includes('PRIVATE KEY'));
}

async function assertServesWith(t: import('node:test').TestContext, dataDir: string, caFile: string): Promise<void> {
  const server = await startFileserver({ dataDir, port: 0, log: () => {} });
  t.after(() => server.close());
  const client = new FileserverClient({ url: server.url, token: server.addUser(`u${Date.now()}`), caFile });
  t.after(() => client.close());
  assert.match((await client.whoami()).user, /^u\d+$/);
}

test('a fresh fileserver keeps every private key out of its TLS directory; ca.pem there verifies it', async (t) => {
  const dataDir = await makeTempDir(t, 'sway-tls-shared-');
  await assertServesWith(t, dataDir, join(dataDir, 'tls', 'ca.pem'));
  assert.deepEqual(readdirSync(join(dataDir, 'tls')), ['ca.pem']);
  assert.deepEqual(privateKeysUnder(join(dataDir, 'tls')), []);
  const priv = join(dataDir, 'tls-private');
  assert.equal(statSync(priv).mode & 0o777, 0o700);
  assert.ok(privateKeysUnder(priv).some((p) => p.endsWith('ca-key.pem')));
});

test('a TLS directory of the earlier layout (keys beside ca.pem) is moved over at start, same CA', async (t) => {
  const dataDir = await makeTempDir(t, 'sway-tls-migrate-');
  // The earlier layout: ca.pem, ca-key.pem and the server's certificate and key, all in tls/.
  ensureTlsMaterial(join(dataDir, 'old'), {});
  const tlsDir = join(dataDir, 'tls');
  mkdirSync(tlsDir, { mode: 0o700 });
  for (const from of [join(dataDir, 'old'), join(dataDir, 'old-private')].filter((d) => existsSync(d))) {
    for (const name of readdirSync(from).filter((n) => !n.startsWith('.'))) renameSync(join(from, name), join(tlsDir, name));
  }
  const caBefore = readFileSync(join(tlsDir, 'ca.pem'));
  const keyBefore = readFileSync(join(tlsDir, 'ca-key.pem'));
  assert.ok(privateKeysUnder(tlsDir).length >= 2);

  await assertServesWith(t, dataDir, join(tlsDir, 'ca.pem'));
  assert.deepEqual(privateKeysUnder(tlsDir), []);
  assert.deepEqual(readdirSync(tlsDir), ['ca.pem']);
  assert.deepEqual(readFileSync(join(tlsDir, 'ca.pem')), caBefore);
  assert.deepEqual(readFileSync(join(dataDir, 'tls-private', 'ca-key.pem')), keyBefore);
});
