// Image names, manifests, the legacy /fetch and scripts over real HTTPS: publishing
// waits for every blob, names stay per user, workers see everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, blob, statusOf } from './fixture.js';
import { EMPTY_HASH, sha256 } from '../../ts/common/hash.js';
import { encodeManifest, emptyImageConfig, type ManifestEntry } from '../../ts/common/manifest.js';

function makeImage(tag: string) {
  const tool = blob(`#!/bin/sh\necho tool ${tag}\n`);
  const unicode = blob('ünïcödé content');
  const entries: ManifestEntry[] = [
    { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
    { path: 'bin', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
    { path: 'bin/hard', type: 'hardlink', mode: 0o4755, uid: 0, gid: 0, mtime: 1700000000, size: tool.content.length, hash: tool.hash, target: 'bin/tool' },
    { path: 'bin/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1700000000, size: 4, target: 'tool' },
    { path: 'bin/tool', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime: 1700000000, size: tool.content.length, hash: tool.hash },
    { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
    { path: 'etc/empty', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1700000000, size: 0, hash: EMPTY_HASH },
    { path: 'etc/ünï', type: 'file', mode: 0o644, uid: 1000, gid: 1000, mtime: 1700000000, size: unicode.content.length, hash: unicode.hash },
  ];
  const manifestBlob = encodeManifest({ version: 1, config: { ...emptyImageConfig(), cmd: ['/bin/tool'] }, entries });
  const blobs = [tool, unicode, { content: Buffer.alloc(0), hash: EMPTY_HASH }];
  return { id: sha256(manifestBlob), manifestBlob, blobs, tool, unicode };
}

test('an image name moves only after the manifest and all its blobs are uploaded by the caller', async (t) => {
  const f = await startFixture(t);
  const img = makeImage('v1');
  // Manifest not uploaded: 409.
  assert.equal(await statusOf(f.alice.setImage('alice/app:v1', img.id)), 409);
  await f.alice.putBlob(img.id, img.manifestBlob, img.manifestBlob.length);
  // Manifest there, one blob missing: still 409, and the name does not exist.
  await f.alice.putBlob(img.tool.hash, img.tool.content, img.tool.content.length);
  await f.alice.putBlob(EMPTY_HASH, Buffer.alloc(0), 0);
  assert.equal(await statusOf(f.alice.setImage('alice/app:v1', img.id)), 409);
  assert.equal(await statusOf(f.alice.resolveImage('alice/app:v1')), 404);
  // Bob holding the missing blob does not help alice.
  await f.bob.putBlob(img.unicode.hash, img.unicode.content, img.unicode.content.length);
  assert.equal(await statusOf(f.alice.setImage('alice/app:v1', img.id)), 409);
  await f.alice.putBlob(img.unicode.hash, img.unicode.content, img.unicode.content.length);
  assert.deepEqual(await f.alice.setImage('alice/app:v1', img.id), { name: 'alice/app:v1', id: img.id });

  assert.deepEqual(await f.alice.resolveImage('alice/app:v1'), { id: img.id, name: 'alice/app:v1' });
  assert.deepEqual(await f.alice.resolveImage('app:v1'), { id: img.id, name: 'alice/app:v1' });
  assert.deepEqual(await f.alice.resolveImage(img.id), { id: img.id, name: 'alice/app:v1' });
  const m = await f.alice.getManifest('alice/app:v1');
  assert.equal(m.id, img.id);
  assert.deepEqual(m.blob, img.manifestBlob);
  assert.deepEqual((await f.alice.getManifest(img.id)).blob, img.manifestBlob);

  // Not a manifest: 400.
  const notManifest = blob('just bytes');
  await f.alice.putBlob(notManifest.hash, notManifest.content, notManifest.content.length);
  assert.equal(await statusOf(f.alice.setImage('alice/bad:v1', notManifest.hash)), 400);
  // Bad names and bodies.
  assert.equal(await statusOf(f.alice.setImage('alice/UPPER:v1', img.id)), 400);
  assert.equal(await statusOf(f.alice.http.json('/v1/images/alice/app:v2', { method: 'PUT', json: { id: 'nope' } })), 400);
});

test('names and manifests are per user; workers resolve and read any', async (t) => {
  const f = await startFixture(t);
  const img = makeImage('x');
  for (const b of [...img.blobs, { content: img.manifestBlob, hash: img.id }]) await f.alice.putBlob(b.hash, b.content, b.content.length);
  await f.alice.setImage('alice/app:latest', img.id);
  // Bob: cannot publish under alice/, cannot see alice's names, ids or manifests.
  assert.equal(await statusOf(f.bob.setImage('alice/app:latest', img.id)), 403);
  assert.equal(await statusOf(f.bob.resolveImage('alice/app')), 404);
  assert.equal(await statusOf(f.bob.resolveImage(img.id)), 404);
  assert.equal(await statusOf(f.bob.getManifest('alice/app:latest')), 404);
  assert.equal(await statusOf(f.bob.getManifest(img.id)), 404);
  // "app" for bob means bob/app: not alice's.
  assert.equal(await statusOf(f.bob.resolveImage('app')), 404);
  // Bob cannot publish alice's image id under his own name without holding its blobs.
  assert.equal(await statusOf(f.bob.setImage('bob/stolen:v1', img.id)), 409);
  // Worker: reads everything, publishes nothing.
  assert.deepEqual(await f.worker.resolveImage('alice/app:latest'), { id: img.id, name: 'alice/app:latest' });
  assert.equal((await f.worker.getManifest('alice/app:latest')).id, img.id);
  assert.equal(await statusOf(f.worker.setImage('w/app:latest', img.id)), 403);
  // Names move: a new image under the same name.
  const img2 = makeImage('y');
  for (const b of [...img2.blobs, { content: img2.manifestBlob, hash: img2.id }]) await f.alice.putBlob(b.hash, b.content, b.content.length);
  await f.alice.setImage('alice/app:latest', img2.id);
  assert.equal((await f.alice.resolveImage('alice/app')).id, img2.id);
});

test('legacy /fetch serves a file with its metadata and lists directories', async (t) => {
  const f = await startFixture(t);
  const img = makeImage('legacy');
  for (const b of [...img.blobs, { content: img.manifestBlob, hash: img.id }]) await f.alice.putBlob(b.hash, b.content, b.content.length);
  await f.alice.setImage('alice/app:v1', img.id);

  const tool = await f.alice.fetchFile('alice/app:v1/bin/tool');
  assert.deepEqual(tool.content, img.tool.content);
  assert.equal(tool.meta.type, 'file');
  assert.equal(tool.meta.mode, 0o4755);
  assert.equal(tool.meta.hash, img.tool.hash);
  const hard = await f.alice.fetchFile('alice/app:v1/bin/hard');
  assert.deepEqual(hard.content, img.tool.content);
  assert.equal(hard.meta.target, 'bin/tool');
  const uni = await f.alice.fetchFile('alice/app:v1/etc/ünï');
  assert.deepEqual(uni.content, img.unicode.content);
  assert.equal(uni.meta.path, 'etc/ünï');
  const link = await f.alice.fetchFile('alice/app:v1/bin/link');
  assert.equal(link.meta.target, 'tool');
  assert.equal(link.content.length, 0);
  const empty = await f.alice.fetchFile('alice/app:v1/etc/empty');
  assert.equal(empty.content.length, 0);

  assert.deepEqual((await f.alice.listDirectory('alice/app:v1/bin/')).map((e) => e.path), ['bin/hard', 'bin/link', 'bin/tool']);
  assert.deepEqual((await f.alice.listDirectory('alice/app:v1/')).map((e) => e.path), ['bin', 'etc']);
  assert.deepEqual((await f.alice.listDirectory('alice/app:v1/etc')).map((e) => e.path), ['etc/empty', 'etc/ünï']);

  assert.equal(await statusOf(f.alice.fetchFile('alice/app:v1/nope')), 404);
  assert.equal(await statusOf(f.alice.listDirectory('alice/app:v1/bin/tool/')), 400);
  assert.equal(await statusOf(f.alice.fetchFile('alice/app:v1/../etc')), 400);
  assert.equal(await statusOf(f.alice.fetchFile(`alice/app:v1/${'a/'.repeat(3000)}x`)), 414);
  assert.equal(await statusOf(f.alice.http.request('/fetch')), 400);
  assert.equal(await statusOf(f.bob.fetchFile('alice/app:v1/bin/tool')), 404);
  assert.deepEqual((await f.worker.fetchFile('alice/app:v1/bin/tool')).content, img.tool.content);
});

test('scripts: uploaded by a user, readable by that user and workers only', async (t) => {
  const f = await startFixture(t);
  const script = Buffer.from('import sys\nprint("hi")\n');
  const hash = await f.alice.uploadScript(script);
  assert.equal(hash, sha256(script));
  assert.equal(await f.alice.hasScript(hash), true);
  assert.deepEqual(await f.alice.getScript(hash), script);
  assert.equal(await f.bob.hasScript(hash), false);
  assert.equal(await statusOf(f.bob.getScript(hash)), 404);
  assert.deepEqual(await f.worker.getScript(hash), script);
  assert.equal(await statusOf(f.worker.uploadScript(script)), 403);
});
