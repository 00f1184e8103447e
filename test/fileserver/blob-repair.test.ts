// A stored copy whose bytes no longer match its hash (bit rot, a bad disk) is repaired by
// the next upload of the right bytes, by PUT or in a batch; and one a read found corrupt
// loses its owners, so sync asks the next export for it and the upload replaces it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFixture, type Fixture } from './fixture.js';
import { sha256 } from '../../ts/common/hash.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';

/** Flip one byte of the stored copy on disk, keeping its size. */
function rot(f: Fixture, hash: string): void {
  const path = join(f.dataDir, 'blobs', blobRelPath(hash));
  const bytes = readFileSync(path);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  writeFileSync(path, bytes);
}

async function get(f: Fixture, hash: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  const res = await f.alice.http.request(`/v1/blobs/${hash}`, { headers, okStatuses: [200, 404] });
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

test('re-uploading the right bytes replaces a corrupt stored copy (PUT, and in a batch)', async (t) => {
  const f = await startFixture(t);
  const a = Buffer.from('a blob that will rot on disk\n'.repeat(100));
  const b = Buffer.from('another blob that will rot on disk\n'.repeat(100));
  for (const c of [a, b]) await f.alice.putBlob(sha256(c), c, c.length);
  rot(f, sha256(a));
  rot(f, sha256(b));
  assert.notDeepEqual((await get(f, sha256(a))).body, a);

  await f.bob.putBlob(sha256(a), a, a.length); // another user's upload of the same bytes
  assert.deepEqual((await get(f, sha256(a))).body, a);
  await f.alice.batchUpload([{ key: 'b', hash: sha256(b), size: b.length, open: () => b }]);
  assert.deepEqual((await get(f, sha256(b))).body, b);
});

test('a stored blob a read found corrupt is reported missing by sync, and the next upload stores it', async (t) => {
  const f = await startFixture(t);
  const content = Buffer.from('import numpy as np\n'.repeat(5000));
  const hash = sha256(content);
  await f.alice.putBlob(hash, content, content.length);
  assert.deepEqual(await f.alice.sync([{ key: 'f', hash }]), []);
  rot(f, hash);
  // A client that takes gzip makes the fileserver read and hash the whole blob (its gzip copy).
  await get(f, hash, { 'accept-encoding': 'gzip' });
  let asked: string[] = [];
  for (let i = 0; i < 200; i++) {
    asked = await f.alice.sync([{ key: 'f', hash }]);
    if (asked.length) break;
    await sleep(25);
  }
  assert.deepEqual(asked, ['f'], 'sync asks for the corrupt blob again');
  assert.equal((await get(f, hash)).status, 404, 'nobody owns the bad copy now');
  await f.alice.batchUpload([{ key: 'f', hash, size: content.length, open: () => content }]);
  assert.deepEqual(await f.alice.sync([{ key: 'f', hash }]), []);
  assert.deepEqual((await get(f, hash)).body, content);
});
