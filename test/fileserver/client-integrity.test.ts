// FileserverClient against a lying server (real HTTPS, our own CA): an HTML page, a body
// one byte short, a reset mid-body, a wrong manifest, a truncated batch. Every one is
// refused, and fetchBlobToFile leaves nothing behind, neither the file nor a temp file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'koa';
import { makeTempDir } from '../helpers/tmp.js';
import { createApp, WORKER_TIMEOUTS, listenHttps } from '../../ts/common/server.js';
import { ensureTlsMaterial } from '../../ts/common/tls.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { sha256 } from '../../ts/common/hash.js';
import { encodeFrameHeader } from '../../ts/common/protocol.js';

const CONTENT = Buffer.alloc(200 * 1024, 0x5a);
const HASH = sha256(CONTENT);

function lie(ctx: Context, mode: string): void {
  ctx.respond = false;
  const res = ctx.res;
  switch (mode) {
    case 'html':
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Welcome to our captive portal</body></html>');
      return;
    case 'short':
      res.writeHead(200, { 'content-length': String(CONTENT.length) });
      res.write(CONTENT.subarray(0, CONTENT.length - 1), () => res.socket?.destroy());
      return;
    case 'reset':
      res.writeHead(200, { 'content-length': String(CONTENT.length) });
      res.write(CONTENT.subarray(0, 50_000), () => res.socket?.destroy());
      return;
    case 'manifest':
      res.writeHead(200, { 'sway-image-id': sha256('something else') });
      res.end(CONTENT);
      return;
    case 'batch':
      res.writeHead(200, { 'content-type': 'application/x-sway-frames' });
      res.end(Buffer.concat([encodeFrameHeader({ hash: HASH, size: CONTENT.length }), CONTENT.subarray(0, 1000)]));
      return;
    default:
      res.writeHead(200);
      res.end(CONTENT);
  }
}

test('the client refuses every kind of bad answer and leaves no file behind', async (t) => {
  const dir = await makeTempDir(t, 'sway-fs-liar-');
  const tls = ensureTlsMaterial(join(dir, 'tls'), {});
  let mode = 'good';
  const app = createApp({ name: 'liar', log: () => {} });
  app.use(async (ctx) => lie(ctx, mode));
  const server = await listenHttps(app, { host: '127.0.0.1', port: 0, tls, timeouts: WORKER_TIMEOUTS });
  t.after(() => server.close());
  const client = new FileserverClient({ url: `https://127.0.0.1:${server.port}`, token: 't', caFile: tls.caCertPath });
  t.after(() => client.close());
  const dest = join(dir, 'cache');

  await client.fetchBlobToFile(HASH, join(dest, 'good'), { expectedSize: CONTENT.length });
  for (const m of ['html', 'short', 'reset']) {
    mode = m;
    await assert.rejects(client.fetchBlobToFile(HASH, join(dest, m), { expectedSize: CONTENT.length }), `mode ${m} must fail`);
    await assert.rejects(client.fetchBlobToFile(HASH, join(dest, `${m}-nosize`)), `mode ${m} without expectedSize must fail`);
    assert.deepEqual(readdirSync(dest), ['good'], `mode ${m} left files`);
  }
  mode = 'manifest';
  await assert.rejects(client.getManifest('alice/app:v1'), { code: 'SWAY_HASH_MISMATCH' });
  await assert.rejects(client.getManifest(sha256('another id')), { code: 'SWAY_HASH_MISMATCH' });
  mode = 'batch';
  const got: string[] = [];
  await assert.rejects(client.fetchBatch([HASH], (h) => { got.push(h); }), { code: 'SWAY_TRUNCATED' });
  assert.deepEqual(got, []);
});
