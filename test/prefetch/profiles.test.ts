// Start profiles on a real fileserver (TLS, SQLite): stored and served, merged in
// first-access order, refused when a hash is not a file of the image, and private to the
// image's owner and workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture } from '../fileserver/fixture.js';
import { sha256 } from '../../ts/common/hash.js';
import { publishRandomImage } from './image.js';

test('a profile a worker stores is served to workers and to the image\'s owner, merged in first-access order', async (t) => {
  const fx = await startFixture(t);
  const img = await publishRandomImage(fx.alice, 'alice/app:latest', 5);
  const h = img.files.map((f) => f.hash);
  assert.equal(await fx.worker.getProfile(img.id), undefined, 'no profile before the first run');

  assert.deepEqual(await fx.worker.putProfile(img.id, [h[3]!, h[1]!]), [h[3], h[1]]);
  assert.deepEqual(await fx.worker.getProfile(img.id), [h[3], h[1]]);
  assert.deepEqual(await fx.alice.getProfile(img.id), [h[3], h[1]], 'the owner reads it');
  // A later run's list: what is known keeps its place, new blobs are appended once.
  assert.deepEqual(await fx.worker.putProfile(img.id, [h[0]!, h[1]!, h[0]!, h[4]!]), [h[3], h[1], h[0], h[4]]);
  assert.deepEqual(await fx.alice.putProfile(img.id, [h[2]!]), [h[3], h[1], h[0], h[4], h[2]], 'the owner may write it too');
  assert.deepEqual(await fx.worker.getProfile(img.id), [h[3], h[1], h[0], h[4], h[2]]);
  // With each blob's size, so a worker can prefetch before it has the manifest.
  const size = (i: number) => img.files[i]!.content.length;
  assert.deepEqual(await fx.worker.getProfileBlobs(img.id), [3, 1, 0, 4, 2].map((i) => ({ hash: h[i], size: size(i) })));
});

test('a profile with a hash that is not a file of the image is refused and changes nothing', async (t) => {
  const fx = await startFixture(t);
  const img = await publishRandomImage(fx.alice, 'alice/app:latest', 3);
  const other = await publishRandomImage(fx.alice, 'alice/other:latest', 1);
  await fx.worker.putProfile(img.id, [img.files[0]!.hash]);
  for (const bad of [sha256('not in any image'), other.files[0]!.hash, img.id /* the manifest blob itself */]) {
    await assert.rejects(fx.worker.putProfile(img.id, [img.files[1]!.hash, bad]), (err: { remoteCode?: string; status?: number }) => {
      assert.equal(err.remoteCode, 'SWAY_PROFILE_INVALID');
      assert.equal(err.status, 400);
      return true;
    });
  }
  await assert.rejects(fx.worker.http.json(`/v1/profiles/${img.id}`, { method: 'PUT', json: { hashes: ['nothex'] } }), { remoteCode: 'SWAY_PROFILE_INVALID' });
  assert.deepEqual(await fx.worker.getProfile(img.id), [img.files[0]!.hash], 'the stored profile is unchanged');
  // An image id the server does not hold.
  await assert.rejects(fx.worker.putProfile(sha256('no such manifest'), []), { status: 404 });
});

test('another user can neither read nor write the profile of an image they do not own', async (t) => {
  const fx = await startFixture(t);
  const img = await publishRandomImage(fx.alice, 'alice/app:latest', 2);
  await fx.worker.putProfile(img.id, [img.files[0]!.hash]);
  // The same 404 as an image that does not exist: bob learns nothing.
  const asBob = await fx.bob.http.request(`/v1/profiles/${img.id}`, { okStatuses: [404] });
  assert.equal(asBob.statusCode, 404);
  assert.equal(((await asBob.body.json()) as { error: { code: string } }).error.code, 'SWAY_NOT_FOUND');
  assert.equal(await fx.bob.getProfile(img.id), undefined);
  await assert.rejects(fx.bob.putProfile(img.id, [img.files[1]!.hash]), { status: 404 });
  await assert.rejects(fx.anonymous.getProfile(img.id), { status: 401 });
  assert.deepEqual(await fx.alice.getProfile(img.id), [img.files[0]!.hash], 'bob\'s write changed nothing');
});
