// Gzip copies of blobs over real HTTPS (ts/fileserver/store/gzip-variants.ts and the
// client's acceptGzip): the first fetch of a blob is plain and asks for a copy; later
// fetches by clients that accept gzip get the copy (own ETag, Vary), ranges and other
// clients stay plain; incompressible and tiny blobs get no copy; a stored blob that no
// longer matches its hash gets no copy; the client verifies decompressed bytes, falls back
// to the plain blob when a copy is bad or a bomb, and batch fetches carry gzip frames;
// GC drops a copy with its blob.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { utimesSync } from 'node:fs';
import Database from 'better-sqlite3';
import { startFixture, type Fixture } from './fixture.js';
import { makeTempDir } from '../helpers/tmp.js';
import { fanoutPath, sha256 } from '../../ts/common/hash.js';
import { databasePath } from '../../ts/fileserver/index.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';

const copyPath = (f: Fixture, hash: string) => join(f.dataDir, 'blobs-gz', `${fanoutPath(hash)}.gz`);
const plainMarker = (f: Fixture, hash: string) => join(f.dataDir, 'blobs-gz', `${fanoutPath(hash)}.plain`);

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(25);
  assert.ok(check(), what);
}

async function put(f: Fixture, content: Buffer): Promise<string> {
  const hash = sha256(content);
  await f.alice.putBlob(hash, content, content.length);
  return hash;
}

async function get(f: Fixture, hash: string, headers: Record<string, string> = {}) {
  const res = await f.alice.http.request(`/v1/blobs/${hash}`, { headers });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

const text = Buffer.from('import numpy as np\n'.repeat(5000)); // compresses ~100x

test('clients that accept gzip get a copy after the first fetch; others, ranges and poor candidates stay plain', async (t) => {
  const f = await startFixture(t);
  const compressible = await put(f, text);
  const random = await put(f, randomBytes(64 * 1024));
  const tiny = await put(f, Buffer.from('x'.repeat(100)));

  const first = await get(f, compressible, { 'accept-encoding': 'gzip' });
  assert.equal(first.headers['content-encoding'], undefined, 'the first fetch is plain (the copy is made after)');
  assert.deepEqual(first.body, text);
  await until('a gzip copy appears', () => existsSync(copyPath(f, compressible)));

  const gz = await get(f, compressible, { 'accept-encoding': 'gzip' });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gz.headers.etag, `"${compressible}-gzip"`);
  assert.match(String(gz.headers.vary), /accept-encoding/i);
  assert.ok(gz.body.length < text.length / 10, `${gz.body.length} bytes on the wire for ${text.length}`);
  assert.deepEqual(gunzipSync(gz.body), text);

  const plain = await get(f, compressible);
  assert.equal(plain.headers['content-encoding'], undefined, 'no accept-encoding: plain');
  assert.deepEqual(plain.body, text);
  const ranged = await get(f, compressible, { 'accept-encoding': 'gzip', range: 'bytes=0-9' });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers['content-encoding'], undefined, 'ranges stay plain');
  assert.deepEqual(ranged.body, text.subarray(0, 10));

  await get(f, random, { 'accept-encoding': 'gzip' });
  await until('random bytes are remembered as not worth a copy', () => existsSync(plainMarker(f, random)));
  assert.equal(existsSync(copyPath(f, random)), false);
  assert.equal((await get(f, random, { 'accept-encoding': 'gzip' })).headers['content-encoding'], undefined);
  await get(f, tiny, { 'accept-encoding': 'gzip' });
  await sleep(200);
  assert.equal(existsSync(copyPath(f, tiny)) || existsSync(plainMarker(f, tiny)), false, 'tiny blobs are not even tried');
});

test('a stored blob that no longer matches its hash gets no copy', async (t) => {
  const f = await startFixture(t);
  const hash = await put(f, text);
  const stored = join(f.dataDir, 'blobs', blobRelPath(hash));
  const bad = Buffer.from(text); bad[100] ^= 1;
  await writeFile(stored, bad);
  await get(f, hash, { 'accept-encoding': 'gzip' });
  await until('the mismatch is logged', () => f.logs.some((l) => l.includes(`stored blob ${hash} does not match its hash`)));
  assert.equal(existsSync(copyPath(f, hash)), false);
});

test('the client verifies decompressed bytes and falls back to the plain blob when a copy is bad', async (t) => {
  const f = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-gzip-client-');
  const hash = await put(f, text);
  await get(f, hash, { 'accept-encoding': 'gzip' });
  await until('a gzip copy appears', () => existsSync(copyPath(f, hash)));

  const good = await f.alice.fetchBlobToFile(hash, join(dir, 'good'), { expectedSize: text.length, acceptGzip: true });
  assert.equal(good.size, text.length);
  assert.deepEqual(await readFile(join(dir, 'good')), text);

  const batch = new Map<string, Buffer>();
  await f.alice.fetchBatch([hash], (h, c) => { batch.set(h, c); }, { acceptGzip: true });
  assert.deepEqual(batch.get(hash), text, 'a gzip frame arrives decompressed');

  // A copy of other bytes, then a bomb (decodes far beyond the blob's size).
  for (const [name, copy] of [['wrong', gzipSync(Buffer.alloc(text.length, 0x41))], ['bomb', gzipSync(Buffer.alloc(64 * 1024 * 1024))]] as const) {
    await writeFile(copyPath(f, hash), copy);
    const before = f.logs.filter((l) => l.startsWith(`GET /v1/blobs/${hash}`)).length;
    const r = await f.alice.fetchBlobToFile(hash, join(dir, name), { expectedSize: text.length, acceptGzip: true });
    assert.equal(r.size, text.length, `${name}: the plain blob was fetched instead`);
    assert.deepEqual(await readFile(join(dir, name)), text, `${name}: right bytes`);
    assert.equal(f.logs.filter((l) => l.startsWith(`GET /v1/blobs/${hash}`)).length - before, 2, `${name}: one gzip request, one plain`);
    const corrupt: string[] = [];
    const got: string[] = [];
    await f.alice.fetchBatch([hash], (h) => { got.push(h); }, { acceptGzip: true, onCorrupt: (h) => corrupt.push(h) });
    assert.deepEqual([got, corrupt], [[], [hash]], `${name}: a batch reports the bad copy as corrupt, hands nothing on`);
  }
  const leftovers = (await import('node:fs/promises')).readdir(dir);
  assert.deepEqual((await leftovers).filter((n) => n.includes('.tmp')), [], 'no temp file left');
});

test('garbage collection drops a blob\'s gzip copy with the blob', async (t) => {
  const f = await startFixture(t);
  const admin = f.client(f.server.addUser('root', 'admin'));
  const hash = await put(f, text);
  await get(f, hash, { 'accept-encoding': 'gzip' });
  await until('a gzip copy appears', () => existsSync(copyPath(f, hash)));
  const db = new Database(databasePath(f.dataDir));
  try { db.prepare('UPDATE blob_owners SET touched_at = 0 WHERE hash = ?').run(hash); } finally { db.close(); }
  const old = new Date(Date.now() - 2 * 86400_000);
  utimesSync(join(f.dataDir, 'blobs', blobRelPath(hash)), old, old);
  const report = await admin.gc({ graceSeconds: 3600 });
  assert.equal(report.deleted, 1);
  assert.equal(existsSync(copyPath(f, hash)), false, 'the copy went with the blob');
});
