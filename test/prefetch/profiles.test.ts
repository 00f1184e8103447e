// Start profiles on a real fileserver (TLS, SQLite): stored and served, merged in
// first-access order, refused when a hash is not a file of the image, and private to the
// image's owner and workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture } from '../fileserver/fixture.js';
import { sha256 } from '../../ts/common/hash.js';
import { publishRandomImage } from './image.js';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { publishTree } from '../worker/publish.js';
import { DEFAULT_CHUNK_SIZE } from '../../ts/common/manifest.js';

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
  assert.deepEqual((await fx.worker.getStartProfile(img.id))?.blobs, [3, 1, 0, 4, 2].map((i) => ({ hash: h[i], size: size(i) })));
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

test('chunk runs in a profile: only of files fetched by chunk and within their chunks; united per file', async (t) => {
  const fx = await startFixture(t);
  const root = await makeTempDir(t, 'sway-profile-chunks-');
  await mkdir(join(root, 'data'));
  const big = randomBytes(10 * DEFAULT_CHUNK_SIZE); // over 1 MiB: fetched by chunk, 10 chunks
  const small = randomBytes(1000);
  await writeFile(join(root, 'data', 'big.bin'), big);
  await writeFile(join(root, 'data', 'small.bin'), small);
  const image = await publishTree(fx.alice, root, 'alice/chunky:latest', { workingDir: '/' });
  const bigHash = sha256(big);
  await fx.worker.putProfile(image.id, [sha256(small)], [{ hash: bigHash, runs: [[0, 2], [7, 1]] }]);
  await fx.worker.putProfile(image.id, [], [{ hash: bigHash, runs: [[2, 1], [8, 2]] }]);
  const profile = await fx.worker.getStartProfile(image.id);
  assert.deepEqual(profile?.chunks, [{ hash: bigHash, runs: [[0, 3], [7, 3]] }], 'the runs of both PUTs, united');
  assert.deepEqual(profile?.blobs, [{ hash: sha256(small), size: 1000 }]);
  // Refused, and nothing changes: a file not fetched by chunk, a run past the last chunk, a bad shape.
  for (const chunks of [[{ hash: sha256(small), runs: [[0, 1]] }], [{ hash: bigHash, runs: [[9, 2]] }], [{ hash: bigHash, runs: [[-1, 1]] }], [{ hash: bigHash, runs: [[0, 0]] }]]) {
    await assert.rejects(fx.worker.http.json(`/v1/profiles/${image.id}`, { method: 'PUT', json: { hashes: [], chunks } }), { remoteCode: 'SWAY_PROFILE_INVALID' }, JSON.stringify(chunks));
  }
  assert.deepEqual((await fx.worker.getStartProfile(image.id))?.chunks, [{ hash: bigHash, runs: [[0, 3], [7, 3]] }]);
});

test('a re-export under the same name takes the previous image\'s profile, by path: changed files by their new content, gone ones left out, chunk runs clipped', async (t) => {
  const fx = await startFixture(t);
  const root = await makeTempDir(t, 'sway-profile-carry-');
  await mkdir(join(root, 'app'));
  const put = (rel: string, content: Buffer) => writeFile(join(root, rel), content);
  const v1 = { main: randomBytes(500), lib: randomBytes(700), gone: randomBytes(300), big: randomBytes(10 * DEFAULT_CHUNK_SIZE) };
  await put('app/main.py', v1.main);
  await put('app/lib.py', v1.lib);
  await put('app/gone.py', v1.gone);
  await put('app/big.bin', v1.big);
  const first = await publishTree(fx.alice, root, 'alice/app:latest', { workingDir: '/app' });
  await fx.worker.putProfile(first.id, [sha256(v1.lib), sha256(v1.gone), sha256(v1.main)], [{ hash: sha256(v1.big), runs: [[1, 2], [8, 2]] }]);

  // The re-export: main.py edited, gone.py removed, big.bin shorter (5 chunks), a new file nobody read.
  const v2 = { main: randomBytes(600), big: randomBytes(5 * DEFAULT_CHUNK_SIZE - 10), fresh: randomBytes(100) };
  await put('app/main.py', v2.main);
  await rm(join(root, 'app/gone.py'));
  await put('app/big.bin', v2.big);
  await put('app/fresh.py', v2.fresh);
  const second = await publishTree(fx.alice, root, 'alice/app:latest', { workingDir: '/app' });
  assert.notEqual(second.id, first.id);
  const carried = await fx.worker.getStartProfile(second.id);
  assert.deepEqual(carried?.blobs.map((b) => b.hash), [sha256(v1.lib), sha256(v2.main)], 'in the old order, by path; the removed file left out');
  assert.deepEqual(carried?.chunks, [{ hash: sha256(v2.big), runs: [[1, 2]] }], 'the run past the new last chunk dropped');
  assert.deepEqual(await fx.worker.getProfile(first.id), [sha256(v1.lib), sha256(v1.gone), sha256(v1.main)], 'the old image keeps its own');

  // A name moved to an image that has a profile already: that one is kept as it is.
  const other = await publishTree(fx.alice, root, 'alice/other:latest', { workingDir: '/' });
  await fx.worker.putProfile(other.id, [sha256(v2.fresh)]);
  await publishTree(fx.alice, root, 'alice/app:latest', { workingDir: '/' });
  assert.deepEqual(await fx.worker.getProfile(other.id), [sha256(v2.fresh)]);
});
