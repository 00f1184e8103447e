// A client that stops sending in the middle of an upload is cut off after the idle
// timeout, and its staged data is removed: no file handle or temp file is held forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { makeTempDir } from '../helpers/tmp.js';
import { startFileserver } from '../../ts/fileserver/index.js';
import { listFiles } from './fixture.js';
import { sha256 } from '../../ts/common/hash.js';

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

test('a stalled upload is aborted by the idle timeout and leaves no temp file', async (t) => {
  const dataDir = await makeTempDir(t, 'sway-fs-stall-');
  const server = await startFileserver({ dataDir, port: 0, log: () => {}, idleTimeoutMs: 1500 });
  t.after(() => server.close());
  const token = server.addUser('alice');
  const hash = sha256('whatever');
  const socket = connect({ host: '127.0.0.1', port: server.port, ca: readFileSync(server.caCertPath), servername: 'localhost' });
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  socket.write(`PUT /v1/blobs/${hash} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Length: 1000000\r\n\r\n`);
  socket.write(Buffer.alloc(64 * 1024, 1));
  const tmp = join(dataDir, 'tmp');
  await until('the upload to be staged', () => readdirSync(tmp).length === 1);
  // Now stall: the server must hang up on us by itself.
  await closed;
  await until('the staged copy to be removed', () => readdirSync(tmp).length === 0);
  assert.deepEqual(readdirSync(tmp), []);
  assert.deepEqual(listFiles(join(dataDir, 'blobs')), []);
});
