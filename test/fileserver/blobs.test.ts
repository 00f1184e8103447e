// Blob endpoints over real HTTPS: auth, upload verification, durability layout,
// re-upload, per-user access, Range/ETag/If-None-Match, fetch-to-file verification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { startFixture, blob, listFiles, statusOf } from './fixture.js';
import { sha256 } from '../../ts/common/hash.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';
import { makeTempDir } from '../helpers/tmp.js';

test('healthz needs no token; everything else answers 401 without a valid one', async (t) => {
  const f = await startFixture(t);
  const res = await f.anonymous.http.request('/healthz');
  assert.deepEqual(await res.body.json(), { ok: true });
  assert.equal(await statusOf(f.anonymous.whoami()), 401);
  assert.equal(await statusOf(f.client('sway_not-a-real-token').whoami()), 401);
  assert.deepEqual(await f.alice.whoami(), { user: 'alice', role: 'user' });
  assert.deepEqual(await f.worker.whoami(), { user: 'w', role: 'worker' });
  const b = blob('anon');
  assert.equal(await statusOf(f.anonymous.putBlob(b.hash, b.content, b.content.length)), 401);
  assert.equal(await statusOf(f.anonymous.sync([{ key: 'k', hash: b.hash }])), 401);
  // Tokens never reach the log.
  assert.ok(!f.logs.join('\n').includes(f.tokens.alice));
  assert.ok(!f.logs.join('\n').includes('sway_not-a-real-token'));
});

test('upload stores under ab/cd/<hash>; wrong hash is 400 and stores nothing; re-upload changes nothing', async (t) => {
  const f = await startFixture(t);
  const b = blob('hello, blob');
  await f.alice.putBlob(b.hash, b.content, b.content.length);
  const path = join(f.dataDir, 'blobs', blobRelPath(b.hash));
  assert.deepEqual(readFileSync(path), b.content);
  const before = statSync(path);

  const wrong = sha256('something else');
  const res = await f.alice.http.request(`/v1/blobs/${wrong}`, { method: 'PUT', body: b.content, okStatuses: [400] });
  assert.equal(res.statusCode, 400);
  assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'SWAY_HASH_MISMATCH');
  assert.equal(existsSync(join(f.dataDir, 'blobs', blobRelPath(wrong))), false);
  assert.deepEqual(readdirSync(join(f.dataDir, 'tmp')), []);
  assert.equal(await f.alice.hasBlob(wrong), false);

  // Same bytes again: 200, same inode, same mtime.
  await f.alice.putBlob(b.hash, b.content, b.content.length);
  const after = statSync(path);
  assert.equal(after.ino, before.ino);
  assert.equal(after.mtimeMs, before.mtimeMs);
  assert.deepEqual(listFiles(join(f.dataDir, 'blobs')), [blobRelPath(b.hash)]);

  // Not a hash at all.
  assert.equal(await statusOf(f.alice.http.request('/v1/blobs/xyz', { method: 'PUT', body: 'x' })), 400);
  // Empty blob is a real blob.
  const empty = blob('');
  await f.alice.putBlob(empty.hash, empty.content, 0);
  assert.equal(await f.alice.hasBlob(empty.hash), true);
});

test('oversize bodies are refused with 413 and leave nothing behind', async (t) => {
  const f = await startFixture(t, { limits: { maxBodyBytes: 64 * 1024 } });
  const big = Buffer.alloc(200 * 1024, 7);
  const hash = sha256(big);
  // Declared length over the limit: refused before reading.
  assert.equal(await statusOf(f.alice.putBlob(hash, big, big.length)), 413);
  // Chunked (no length): refused once the limit is crossed.
  async function* chunks() { for (let i = 0; i < 20; i++) yield big.subarray(i * 10240, (i + 1) * 10240); }
  const { Readable } = await import('node:stream');
  const res = await f.alice.http.request(`/v1/blobs/${hash}`, { method: 'PUT', body: Readable.from(chunks()), okStatuses: [413] })
    .catch((err: Error) => ({ statusCode: -1, err }));
  assert.ok(res.statusCode === 413 || res.statusCode === -1, `status ${res.statusCode}`);
  assert.equal(await f.alice.hasBlob(hash), false);
  assert.deepEqual(listFiles(join(f.dataDir, 'blobs')), []);
  assert.deepEqual(readdirSync(join(f.dataDir, 'tmp')), []);
  // The server still works.
  const b = blob('still alive');
  await f.alice.putBlob(b.hash, b.content, b.content.length);
});

test('a blob is readable only by its uploaders and by workers; knowing the hash grants nothing', async (t) => {
  const f = await startFixture(t);
  const b = blob('alice secret');
  await f.alice.putBlob(b.hash, b.content, b.content.length);
  assert.equal(await f.alice.hasBlob(b.hash), true);
  assert.equal(await f.bob.hasBlob(b.hash), false);
  assert.equal(await statusOf(f.bob.http.request(`/v1/blobs/${b.hash}`)), 404);
  assert.equal(await f.worker.hasBlob(b.hash), true);
  // Workers read but never write.
  assert.equal(await statusOf(f.worker.putBlob(b.hash, b.content, b.content.length)), 403);
  // Bob proves possession by uploading the bytes: now he may read it.
  await f.bob.putBlob(b.hash, b.content, b.content.length);
  assert.equal(await f.bob.hasBlob(b.hash), true);
});

test('GET: immutable caching headers, ETag, If-None-Match, single Range (206/416)', async (t) => {
  const f = await startFixture(t);
  const content = Buffer.from('0123456789abcdefghij');
  const hash = sha256(content);
  await f.alice.putBlob(hash, content, content.length);
  const get = (headers: Record<string, string>) => f.alice.http.request(`/v1/blobs/${hash}`, { headers, okStatuses: [416] });

  let res = await get({});
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(res.headers.etag, `"${hash}"`);
  assert.equal(res.headers['content-length'], String(content.length));
  assert.deepEqual(Buffer.from(await res.body.arrayBuffer()), content);

  res = await get({ range: 'bytes=2-5' });
  assert.equal(res.statusCode, 206);
  assert.equal(res.headers['content-range'], `bytes 2-5/${content.length}`);
  assert.equal(await res.body.text(), '2345');

  res = await get({ range: 'bytes=-3' });
  assert.equal(res.statusCode, 206);
  assert.equal(await res.body.text(), 'hij');

  res = await get({ range: 'bytes=15-' });
  assert.equal(await res.body.text(), 'fghij');

  res = await get({ range: 'bytes=100-200' });
  assert.equal(res.statusCode, 416);
  assert.equal(res.headers['content-range'], `bytes */${content.length}`);
  await res.body.dump();

  res = await get({ 'if-none-match': `"${hash}"` });
  assert.equal(res.statusCode, 304);
  await res.body.dump();

  res = await f.alice.http.request(`/v1/blobs/${hash}`, { method: 'HEAD' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-length'], String(content.length));
  await res.body.dump();
});

test('fetchBlobToFile verifies: a corrupt stored blob is refused and leaves no file, temp or final', async (t) => {
  const f = await startFixture(t);
  const dest = await makeTempDir(t, 'sway-fs-dest-');
  const content = Buffer.alloc(300 * 1024, 3);
  const hash = sha256(content);
  await f.alice.putBlob(hash, content, content.length);

  const good = join(dest, 'good');
  assert.deepEqual(await f.alice.fetchBlobToFile(hash, good, { expectedSize: content.length }), { size: content.length });
  assert.deepEqual(readFileSync(good), content);

  // Wrong expected size, either way: refused.
  await assert.rejects(f.alice.fetchBlobToFile(hash, join(dest, 'short'), { expectedSize: 10 }), { code: 'SWAY_SIZE_MISMATCH' });
  await assert.rejects(f.alice.fetchBlobToFile(hash, join(dest, 'long'), { expectedSize: content.length + 1 }), { code: 'SWAY_SIZE_MISMATCH' });
  // Aborted by the caller: rejected, nothing left.
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(f.alice.fetchBlobToFile(hash, join(dest, 'aborted'), { signal: ac.signal }));
  assert.deepEqual(readdirSync(dest), ['good']);
  // Flip one byte on the server's disk: the client notices.
  const stored = join(f.dataDir, 'blobs', blobRelPath(hash));
  const bad = Buffer.from(content); bad[1000] ^= 0xff;
  writeFileSync(stored, bad);
  await assert.rejects(f.alice.fetchBlobToFile(hash, join(dest, 'bad')), { code: 'SWAY_HASH_MISMATCH' });
  assert.deepEqual(readdirSync(dest), ['good']);
  // A missing blob: 404, nothing created.
  await assert.rejects(f.alice.fetchBlobToFile(sha256('nope'), join(dest, 'missing')), { status: 404 });
  assert.deepEqual(readdirSync(dest), ['good']);
});

test('plain HTTP to the port fails; unknown routes 404 as JSON', async (t) => {
  const f = await startFixture(t);
  const plainUrl = f.server.url.replace('https://', 'http://');
  await assert.rejects(request(`${plainUrl}/healthz`, { headersTimeout: 20_000, bodyTimeout: 20_000 }).then((r) => r.body.text()));
  const res = await f.alice.http.request('/v1/nothing-here', { okStatuses: [404] });
  assert.equal(res.statusCode, 404);
  assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'SWAY_NOT_FOUND');
});
