// PUT /batch-upload, POST /sync and POST /v1/blobs/fetch-batch over real HTTPS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startFixture, blob, listFiles, statusOf } from './fixture.js';
import { sha256} from '../../ts/common/hash.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';
import { encodeFrameHeader } from '../../ts/common/protocol.js';
import type { UploadFile } from '../../ts/common/fileserver-client.js';

function files(n: number, prefix = 'f'): (UploadFile & { content: Buffer })[] {
  return Array.from({ length: n }, (_, i) => {
    const content = Buffer.from(`${prefix} number ${i} `.repeat(1 + (i % 50)));
    return { key: `dir/${prefix}${i}.txt`, hash: sha256(content), size: content.length, content, open: () => content };
  });
}

test('batch upload stores every file, and sync then asks for none of them', async (t) => {
  const f = await startFixture(t);
  const batch = files(200);
  // A streamed source as well as buffers.
  const streamed = Buffer.alloc(1024 * 1024, 9);
  batch.push({ key: 'big.bin', hash: sha256(streamed), size: streamed.length, content: streamed, open: () => Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]) });
  const keys = batch.map((b) => ({ key: b.key, hash: b.hash }));
  assert.equal((await f.alice.sync(keys)).length, batch.length);
  const result = await f.alice.batchUpload(batch);
  assert.equal(result.stored, batch.length);
  assert.equal(result.bytes, batch.reduce((n, b) => n + b.size, 0));
  assert.deepEqual(await f.alice.sync(keys), []);
  for (const b of batch.slice(0, 5).concat(batch.slice(-1))) {
    const res = await f.alice.http.request(`/v1/blobs/${b.hash}`);
    assert.deepEqual(Buffer.from(await res.body.arrayBuffer()), b.content);
  }
  assert.deepEqual(readdirSync(join(f.dataDir, 'tmp')), []);
});

test('sync answers per user, one key per missing hash, and never reveals what others hold', async (t) => {
  const f = await startFixture(t);
  const a = blob('shared content');
  const only = blob('only bob has a sync question about this');
  await f.alice.putBlob(a.hash, a.content, a.content.length);
  assert.deepEqual(await f.alice.sync([{ key: 'x', hash: a.hash }]), []);
  // Bob asks about a blob the store holds (alice's) and one nobody holds: same answer.
  assert.deepEqual(await f.bob.sync([{ key: 'x', hash: a.hash }, { key: 'y', hash: only.hash }]), ['x', 'y']);
  // Two keys, same content: one upload.
  assert.deepEqual(await f.bob.sync([{ key: 'p', hash: only.hash }, { key: 'q', hash: only.hash }]), ['p']);
  // Bob uploads the bytes alice already stored: ownership recorded, nothing rewritten.
  await f.bob.batchUpload([{ key: 'x', hash: a.hash, size: a.content.length, open: () => a.content }]);
  assert.deepEqual(await f.bob.sync([{ key: 'x', hash: a.hash }]), []);
  // Bad sync bodies: 400.
  assert.equal(await statusOf(f.bob.http.json('/sync', { method: 'POST', json: { nope: 1 } })), 400);
  assert.equal(await statusOf(f.bob.http.json('/sync', { method: 'POST', json: [{ key: 'k', hash: 'not-a-hash' }] })), 400);
  assert.equal(await statusOf(f.bob.http.request('/sync', { method: 'POST', body: '{not json' })), 400);
  assert.equal(await statusOf(f.bob.http.json('/sync', { method: 'POST', json: [{ key: 'k'.repeat(5000), hash: a.hash }] })), 400);
});

test('a batch with one wrong hash is refused (400) and stores none of its files', async (t) => {
  const f = await startFixture(t);
  const batch = files(50);
  batch[30] = { ...batch[30]!, hash: sha256('not this content') };
  const status = await statusOf(f.alice.batchUpload(batch));
  assert.equal(status, 400);
  assert.deepEqual(listFiles(join(f.dataDir, 'blobs')), []);
  assert.deepEqual(readdirSync(join(f.dataDir, 'tmp')), []);
  assert.equal((await f.alice.sync(batch.map((b) => ({ key: b.key, hash: b.hash })))).length, 50);
});

test('batch limits: more than 3000 files, a truncated body, a bad frame, an oversize key: 4xx and nothing stored', async (t) => {
  const f = await startFixture(t);
  const many = files(3001, 'm');
  assert.equal(await statusOf(f.alice.batchUpload(many)), 413);
  assert.deepEqual(listFiles(join(f.dataDir, 'blobs')), []);
  // Exactly 3000 is fine.
  assert.equal((await f.alice.batchUpload(many.slice(0, 3000))).stored, 3000);

  const c = blob('truncated');
  const truncated = Buffer.concat([encodeFrameHeader({ key: 'k', hash: c.hash, size: c.content.length }), c.content.subarray(0, 3)]);
  assert.equal(await statusOf(f.alice.http.request('/batch-upload', { method: 'PUT', body: truncated })), 400);
  const garbage = Buffer.from([0, 0, 0, 5, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b]);
  assert.equal(await statusOf(f.alice.http.request('/batch-upload', { method: 'PUT', body: garbage })), 400);
  const longKey = Buffer.concat([encodeFrameHeader({ key: 'k'.repeat(5000), hash: c.hash, size: c.content.length }), c.content]);
  assert.equal(await statusOf(f.alice.http.request('/batch-upload', { method: 'PUT', body: longKey })), 400);
  assert.equal(await f.alice.hasBlob(c.hash), false);
  assert.deepEqual(readdirSync(join(f.dataDir, 'tmp')), []);
  assert.equal(await statusOf(f.worker.batchUpload(files(1))), 403);
  // A source shorter than its declared size is reported as such, and nothing is stored.
  const liar = blob('I claim to be longer');
  await assert.rejects(f.alice.batchUpload([{ key: 'liar', hash: liar.hash, size: liar.content.length + 10, open: () => Readable.from([liar.content]) }]), { code: 'SWAY_SIZE_MISMATCH' });
  assert.equal(await f.alice.hasBlob(liar.hash), false);
});

test('fetch-batch streams readable blobs, marks the rest missing, verifies every byte', async (t) => {
  const f = await startFixture(t);
  const mine = files(20, 'a');
  await f.alice.batchUpload(mine);
  const bobs = blob('bob only');
  await f.bob.putBlob(bobs.hash, bobs.content, bobs.content.length);
  const absent = sha256('absent');
  const got = new Map<string, Buffer>();
  const { missing } = await f.alice.fetchBatch([...mine.map((m) => m.hash), bobs.hash, absent], (h, c) => { got.set(h, c); });
  assert.deepEqual(missing.sort(), [bobs.hash, absent].sort());
  assert.equal(got.size, mine.length);
  for (const m of mine) assert.deepEqual(got.get(m.hash), m.content);
  // A worker reads anything.
  const w = new Map<string, Buffer>();
  const r = await f.worker.fetchBatch([bobs.hash, mine[0]!.hash], (h, c) => { w.set(h, c); });
  assert.deepEqual(r.missing, []);
  assert.deepEqual(w.get(bobs.hash), bobs.content);
  // Bad input.
  assert.equal(await statusOf(f.alice.fetchBatch(['zz'], () => {})), 400);
  // Corrupt a stored blob: the client refuses the batch.
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(f.dataDir, 'blobs', blobRelPath(mine[3]!.hash)), Buffer.alloc(mine[3]!.size, 0x41));
  await assert.rejects(f.alice.fetchBatch([mine[3]!.hash], () => {}), { code: 'SWAY_HASH_MISMATCH' });
});

test('fetch-batch mixes blobs read whole and streamed, and the client hands a blob on before the one before it is done', async (t) => {
  const f = await startFixture(t);
  // Small blobs are read whole ahead of sending, big ones (over 256 KiB) stream.
  const contents = [randomBytes(1000), randomBytes(600_000), randomBytes(10), randomBytes(2_000_000), randomBytes(300)];
  for (const c of contents) await f.alice.putBlob(sha256(c), c, c.length);
  const hashes = contents.map((c) => sha256(c));
  const absent = sha256('absent');
  const got = new Map<string, Buffer>();
  // The first blob's onBlob finishes only once the second has been handed on (or after 10 s):
  // a client that waits for each onBlob before reading on never overlaps them.
  let secondHanded!: () => void;
  const second = new Promise<void>((r) => { secondHanded = r; });
  let overlapped = false;
  const { missing } = await f.alice.fetchBatch([hashes[0]!, hashes[1]!, absent, hashes[2]!, hashes[3]!, hashes[4]!], async (h, c) => {
    got.set(h, c);
    if (h === hashes[0]) {
      const timer = new Promise<boolean>((r) => setTimeout(() => r(false), 10_000));
      overlapped = await Promise.race([second.then(() => true), timer]);
    } else if (h === hashes[1]) secondHanded();
  });
  assert.deepEqual(missing, [absent]);
  assert.ok(overlapped, 'the second blob reached onBlob while the first one\'s onBlob was still running');
  assert.equal(got.size, contents.length);
  for (const c of contents) assert.deepEqual(got.get(sha256(c)), c);
});
