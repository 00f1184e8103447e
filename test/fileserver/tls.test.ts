// TLS material and verification: the CA is made once and reused, a changed SAN set gets
// its own certificate from the same CA, concurrent first starts agree, given material is
// used as is, and a client trusting another CA is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureTlsMaterial, privateTlsDir, resolveServerTls } from '../../ts/common/tls.js';
import { startFileserver } from '../../ts/fileserver/index.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { makeTempDir, REPO_ROOT } from '../helpers/tmp.js';
import { runCommand } from '../helpers/cli.js';

function sansOf(certPath: string): string {
  return execFileSync('openssl', ['x509', '-in', certPath, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
}
function verifies(caPath: string, certPath: string): boolean {
  try { execFileSync('openssl', ['verify', '-CAfile', caPath, certPath], { stdio: 'ignore' }); return true; } catch { return false; }
}

test('ensureTlsMaterial creates a CA once, reuses it, and issues per-SAN-set certificates', async (t) => {
  // A tls/ inside the temp dir: its keys go to the sibling tls-private/, removed with it.
  const dir = join(await makeTempDir(t, 'sway-tls-'), 'tls');
  const a = ensureTlsMaterial(dir, {});
  const caMtime = statSync(a.caCertPath).mtimeMs;
  assert.equal(statSync(join(privateTlsDir(dir), 'ca-key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(a.keyPath).mode & 0o777, 0o600);
  assert.ok(verifies(a.caCertPath, a.certPath));
  const sans = sansOf(a.certPath);
  for (const s of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1']) assert.ok(sans.includes(s), sans);

  assert.deepEqual(ensureTlsMaterial(dir, {}), a);
  const b = ensureTlsMaterial(dir, { sans: ['files.example.org', '10.1.2.3'] });
  assert.notEqual(b.certPath, a.certPath);
  assert.equal(b.caCertPath, a.caCertPath);
  assert.equal(statSync(a.caCertPath).mtimeMs, caMtime);
  assert.ok(verifies(b.caCertPath, b.certPath));
  assert.ok(sansOf(b.certPath).includes('DNS:files.example.org'));
  assert.ok(sansOf(b.certPath).includes('IP Address:10.1.2.3'));
  assert.throws(() => ensureTlsMaterial(dir, { sans: ['bad name!'] }), { code: 'SWAY_CONFIG' });
  assert.throws(() => resolveServerTls(dir, { tlsCert: a.certPath }), { code: 'SWAY_CONFIG' });
});

test('two processes starting at once on one directory end up with one CA', async (t) => {
  const dir = join(await makeTempDir(t, 'sway-tls-race-'), 'tls');
  const script = `import(${JSON.stringify(join(REPO_ROOT, 'dist/ts/common/tls.js'))}).then((m) => console.log(JSON.stringify(m.ensureTlsMaterial(process.argv[1], {}))))`;
  const runs = await Promise.all([1, 2, 3].map(() => runCommand(process.execPath, ['-e', script, dir], { timeoutMs: 120_000 })));
  const outs = runs.map((r) => { assert.equal(r.code, 0, r.stderr); return JSON.parse(r.stdout) as { caCertPath: string; certPath: string }; });
  const ca = readFileSync(outs[0]!.caCertPath);
  for (const o of outs) {
    assert.deepEqual(readFileSync(o.caCertPath), ca);
    assert.ok(verifies(o.caCertPath, o.certPath));
  }
});

test('a client trusting another CA is refused; given material is used as is', async (t) => {
  const dataDir = await makeTempDir(t, 'sway-tls-fs-');
  const otherDir = await makeTempDir(t, 'sway-tls-other-');
  const other = ensureTlsMaterial(join(otherDir, 'tls'), {});
  // The server runs on material "given" from otherDir (as --tls-cert/--tls-key/--tls-ca).
  const server = await startFileserver({ dataDir, port: 0, log: () => {}, tlsCert: other.certPath, tlsKey: other.keyPath, tlsCa: other.caCertPath });
  t.after(() => server.close());
  assert.equal(server.caCertPath, other.caCertPath);
  const token = server.addUser('alice');
  const good = new FileserverClient({ url: server.url, token, caFile: other.caCertPath });
  t.after(() => good.close());
  assert.equal((await good.whoami()).user, 'alice');

  const strangerDir = await makeTempDir(t, 'sway-tls-stranger-');
  const stranger = ensureTlsMaterial(join(strangerDir, 'tls'), {});
  const bad = new FileserverClient({ url: server.url, token, caFile: stranger.caCertPath });
  t.after(() => bad.close());
  await assert.rejects(bad.whoami(), { code: 'SWAY_UNREACHABLE' });
  // No CA given: the system store does not know our CA either.
  const system = new FileserverClient({ url: server.url, token });
  t.after(() => system.close());
  await assert.rejects(system.whoami(), { code: 'SWAY_UNREACHABLE' });
  assert.throws(() => new FileserverClient({ url: server.url.replace('https', 'http'), token }), { code: 'SWAY_CONFIG' });
});
