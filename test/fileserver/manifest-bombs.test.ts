// Hostile manifest blobs at a real fileserver over HTTPS: a gzip bomb, JSON over the size
// bound, and a huge JSON that decodes for a long time only to fail. Each is refused with a
// clear error, decoded at most once however often it is asked for, and while one decodes
// another user's requests are answered (the decode is not on the event loop).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFixture, statusOf, type Fixture } from './fixture.js';
import { EMPTY_HASH, sha256 } from '../../ts/common/hash.js';
import { encodeManifest, emptyImageConfig, MAX_MANIFEST_JSON_BYTES } from '../../ts/common/manifest.js';
import type { RemoteError } from '../../ts/common/errors.js';

/** 1 GiB of zeros as 16 concatenated gzip members (gunzip reads them as one stream): ~1 MB. */
function gzipBomb(): Buffer {
  const member = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  return Buffer.concat(Array.from({ length: 16 }, () => member));
}

/**
 * A manifest's JSON of about `bytes`, well formed up to its last entry, which has a path
 * that is not clean: every entry must be parsed and checked before it fails.
 */
function jsonBomb(bytes: number): Buffer {
  const head = `{"v":1,"config":${JSON.stringify(emptyImageConfig())},"entries":[\n["","d",493,0,0,1700000000,0,null,null,null],\n["d","d",493,0,0,1700000000,0,null,null,null]`;
  const parts = [head];
  let size = head.length;
  for (let i = 0; size < bytes; i++) {
    const line = `,\n["d/f${String(i).padStart(9, '0')}","f",420,0,0,1700000000,${i + 1},"${sha256(String(i))}",null,null]`;
    parts.push(line);
    size += line.length;
  }
  parts.push(',\n["d/../escape","f",420,0,0,1700000000,0,"' + EMPTY_HASH + '",null,null]\n]}\n');
  return gzipSync(Buffer.from(parts.join('')), { level: 1 });
}

async function upload(f: Fixture, content: Buffer): Promise<string> {
  const hash = sha256(content);
  await f.alice.putBlob(hash, content, content.length);
  return hash;
}

async function remoteError(p: Promise<unknown>): Promise<RemoteError> {
  try { await p; } catch (err) { return err as RemoteError; }
  assert.fail('expected the request to fail');
}

test('a gzip bomb and JSON over the bound are refused with a clear error, decoded once however often they are asked for', { timeout: 120_000 }, async (t) => {
  const f = await startFixture(t);
  const bomb = await upload(f, gzipBomb());
  // Random hashes compress about 2:1: this JSON is over the absolute bound, not the ratio.
  const big = await upload(f, jsonBomb(MAX_MANIFEST_JSON_BYTES + 1024 * 1024));

  for (const [k, id] of [bomb, big].entries()) {
    const err = await remoteError(f.alice.setImage('alice/bomb:v1', id));
    assert.equal(err.status, 400);
    assert.equal(err.remoteCode, 'SWAY_IMAGE_FORMAT');
    assert.match(err.message, /manifest decompresses to more than \d+ bytes/);
    // Asked for again, four times at once and once more: no second decode.
    const statuses = await Promise.all([0, 1, 2, 3].map(() => statusOf(f.alice.resolveImage(id))));
    assert.deepEqual(statuses, [404, 404, 404, 404], 'a blob that is no manifest is not an image');
    assert.equal(await statusOf(f.alice.getManifest(id)), 404);
    assert.deepEqual(f.server.manifestStats(), { decodes: k + 1, failures: k + 1, inFlight: 0 }, 'each blob is decoded once');
  }

  // The decoders still serve a real image.
  const entries = [{ path: '', type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
    { path: 'empty', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 1700000000, size: 0, hash: EMPTY_HASH }];
  await f.alice.putBlob(EMPTY_HASH, Buffer.alloc(0), 0);
  const good = await upload(f, encodeManifest({ version: 1, config: emptyImageConfig(), entries }));
  assert.deepEqual(await f.alice.setImage('alice/good:v1', good), { name: 'alice/good:v1', id: good });
  assert.deepEqual(await f.alice.resolveImage(good), { id: good, name: 'alice/good:v1' });
});

test('while a huge manifest decodes, another user is answered; the failure is remembered', { timeout: 120_000 }, async (t) => {
  const f = await startFixture(t);
  // Within the bounds (~30 MiB of JSON, ~15:1), so the whole of it is parsed and checked.
  const slow = await upload(f, jsonBomb(MAX_MANIFEST_JSON_BYTES - 2 * 1024 * 1024));
  await f.bob.whoami(); // bob's connection is up: his next request costs one round trip
  const stats = () => (f.server as { manifestStats?: () => { inFlight: number } }).manifestStats?.();

  const order: string[] = [];
  let slowDone = false;
  const slowReq = statusOf(f.alice.resolveImage(slow)).then((s) => { slowDone = true; order.push('manifest'); return s; });
  // Bob asks once the decode is under way (or, where decoding blocks the server, once it is over).
  while (!slowDone && !(stats()?.inFlight)) await sleep(2);
  const bobReq = f.bob.whoami().then((w) => { order.push('whoami'); return w; });
  const [slowStatus, who] = await Promise.all([slowReq, bobReq]);
  assert.equal(slowStatus, 404);
  assert.equal(who.user, 'bob');
  assert.deepEqual(order, ['whoami', 'manifest'], 'bob was answered while the manifest decoded');

  const err = await remoteError(f.alice.setImage('alice/slow:v1', slow));
  assert.equal(err.status, 400);
  assert.equal(err.remoteCode, 'SWAY_IMAGE_FORMAT');
  assert.match(err.message, /d\/\.\.\/escape/, 'it failed on the last entry');
  assert.deepEqual(f.server.manifestStats(), { decodes: 1, failures: 1, inFlight: 0 }, 'asked twice, decoded once');
});

test('a decode that outlasts its deadline is stopped and answered with a clear error', { timeout: 120_000 }, async (t) => {
  const f = await startFixture(t, { limits: { manifestDecodeMs: 20 } });
  const slow = await upload(f, jsonBomb(MAX_MANIFEST_JSON_BYTES - 2 * 1024 * 1024));
  const err = await remoteError(f.alice.setImage('alice/slow:v1', slow));
  assert.equal(err.status, 400);
  assert.equal(err.remoteCode, 'SWAY_IMAGE_FORMAT');
  assert.match(err.message, /manifest took more than 0\.02 s to decode/);
  assert.equal(await statusOf(f.alice.setImage('alice/slow:v1', slow)), 400);
  assert.deepEqual(f.server.manifestStats(), { decodes: 1, failures: 1, inFlight: 0 });
});
