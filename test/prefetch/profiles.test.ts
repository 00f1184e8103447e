// Start profiles on a real fileserver (TLS, SQLite): stored and served, merged in
// first-access order, refused when a hash is not a file of the image; one per user and
// image (two users of one image never share one; a worker token has none), and never an
// answer about a blob the caller cannot read (its size, or whether anybody holds it).
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
import { DEFAULT_CHUNK_SIZE, MANIFEST_VERSION, emptyImageConfig, encodeManifest, type ManifestEntry } from '../../ts/common/manifest.js';
import type { FileserverClient } from '../../ts/common/fileserver-client.js';
import { databasePath } from '../../ts/fileserver/index.js';
import Database from 'better-sqlite3';

test('a profile its owner stores is served to them, merged in first-access order; a worker token has none', async (t) => {
  const fx = await startFixture(t);
  const img = await publishRandomImage(fx.alice, 'alice/app:latest', 5);
  const h = img.files.map((f) => f.hash);
  assert.equal(await fx.alice.getProfile(img.id), undefined, 'no profile before the first run');

  assert.deepEqual(await fx.alice.putProfile(img.id, [h[3]!, h[1]!]), [h[3], h[1]]);
  assert.deepEqual(await fx.alice.getProfile(img.id), [h[3], h[1]]);
  // A later run's list: what is known keeps its place, new blobs are appended once.
  assert.deepEqual(await fx.alice.putProfile(img.id, [h[0]!, h[1]!, h[0]!, h[4]!]), [h[3], h[1], h[0], h[4]]);
  assert.deepEqual(await fx.alice.putProfile(img.id, [h[2]!]), [h[3], h[1], h[0], h[4], h[2]]);
  // With each blob's size, so a worker can prefetch before it has the manifest.
  const size = (i: number) => img.files[i]!.content.length;
  assert.deepEqual((await fx.alice.getStartProfile(img.id))?.blobs, [3, 1, 0, 4, 2].map((i) => ({ hash: h[i], size: size(i) })));
  // A worker acts for many users: it reads and writes a run's profile with the user's token.
  await assert.rejects(fx.worker.getStartProfile(img.id), { status: 403, remoteCode: 'SWAY_FORBIDDEN' });
  await assert.rejects(fx.worker.putProfile(img.id, [h[0]!]), { status: 403, remoteCode: 'SWAY_FORBIDDEN' });
  assert.deepEqual(await fx.alice.getProfile(img.id), [h[3], h[1], h[0], h[4], h[2]], 'unchanged');
});

test('a profile with a hash that is not a file of the image is refused and changes nothing', async (t) => {
  const fx = await startFixture(t);
  const img = await publishRandomImage(fx.alice, 'alice/app:latest', 3);
  const other = await publishRandomImage(fx.alice, 'alice/other:latest', 1);
  await fx.alice.putProfile(img.id, [img.files[0]!.hash]);
  for (const bad of [sha256('not in any image'), other.files[0]!.hash, img.id /* the manifest blob itself */]) {
    await assert.rejects(fx.alice.putProfile(img.id, [img.files[1]!.hash, bad]), (err: { remoteCode?: string; status?: number }) => {
      assert.equal(err.remoteCode, 'SWAY_PROFILE_INVALID');
      assert.equal(err.status, 400);
      return true;
    });
  }
  await assert.rejects(fx.alice.http.json(`/v1/profiles/${img.id}`, { method: 'PUT', json: { hashes: ['nothex'] } }), { remoteCode: 'SWAY_PROFILE_INVALID' });
  assert.deepEqual(await fx.alice.getProfile(img.id), [img.files[0]!.hash], 'the stored profile is unchanged');
  // An image id the server does not hold.
  await assert.rejects(fx.alice.putProfile(sha256('no such manifest'), []), { status: 404 });
});

test('another user can neither read nor write the profile of an image they do not own', async (t) => {
  const fx = await startFixture(t);
  const img = await publishRandomImage(fx.alice, 'alice/app:latest', 2);
  await fx.alice.putProfile(img.id, [img.files[0]!.hash]);
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
  await fx.alice.putProfile(image.id, [sha256(small)], [{ hash: bigHash, runs: [[0, 2], [7, 1]] }]);
  await fx.alice.putProfile(image.id, [], [{ hash: bigHash, runs: [[2, 1], [8, 2]] }]);
  const profile = await fx.alice.getStartProfile(image.id);
  assert.deepEqual(profile?.chunks, [{ hash: bigHash, runs: [[0, 3], [7, 3]] }], 'the runs of both PUTs, united');
  assert.deepEqual(profile?.blobs, [{ hash: sha256(small), size: 1000 }]);
  // Refused, and nothing changes: a file not fetched by chunk, a run past the last chunk, a bad shape.
  for (const chunks of [[{ hash: sha256(small), runs: [[0, 1]] }], [{ hash: bigHash, runs: [[9, 2]] }], [{ hash: bigHash, runs: [[-1, 1]] }], [{ hash: bigHash, runs: [[0, 0]] }]]) {
    await assert.rejects(fx.alice.http.json(`/v1/profiles/${image.id}`, { method: 'PUT', json: { hashes: [], chunks } }), { remoteCode: 'SWAY_PROFILE_INVALID' }, JSON.stringify(chunks));
  }
  assert.deepEqual((await fx.alice.getStartProfile(image.id))?.chunks, [{ hash: bigHash, runs: [[0, 3], [7, 3]] }]);
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
  await fx.alice.putProfile(first.id, [sha256(v1.lib), sha256(v1.gone), sha256(v1.main)], [{ hash: sha256(v1.big), runs: [[1, 2], [8, 2]] }]);

  // The re-export: main.py edited, gone.py removed, big.bin shorter (5 chunks), a new file nobody read.
  const v2 = { main: randomBytes(600), big: randomBytes(5 * DEFAULT_CHUNK_SIZE - 10), fresh: randomBytes(100) };
  await put('app/main.py', v2.main);
  await rm(join(root, 'app/gone.py'));
  await put('app/big.bin', v2.big);
  await put('app/fresh.py', v2.fresh);
  const second = await publishTree(fx.alice, root, 'alice/app:latest', { workingDir: '/app' });
  assert.notEqual(second.id, first.id);
  const carried = await fx.alice.getStartProfile(second.id);
  assert.deepEqual(carried?.blobs.map((b) => b.hash), [sha256(v1.lib), sha256(v2.main)], 'in the old order, by path; the removed file left out');
  assert.deepEqual(carried?.chunks, [{ hash: sha256(v2.big), runs: [[1, 2]] }], 'the run past the new last chunk dropped');
  assert.deepEqual(await fx.alice.getProfile(first.id), [sha256(v1.lib), sha256(v1.gone), sha256(v1.main)], 'the old image keeps its own');

  // A name moved to an image that has a profile already: that one is kept as it is.
  const other = await publishTree(fx.alice, root, 'alice/other:latest', { workingDir: '/' });
  await fx.alice.putProfile(other.id, [sha256(v2.fresh)]);
  await publishTree(fx.alice, root, 'alice/app:latest', { workingDir: '/' });
  assert.deepEqual(await fx.alice.getProfile(other.id), [sha256(v2.fresh)]);
});

/** A raw answer, with the request's own names replaced, to compare two users' or two cases' answers. */
async function answer(client: FileserverClient, path: string, json: unknown, names: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const res = await client.http.request(path, {
    method: json === undefined ? 'GET' : 'PUT', okStatuses: Array.from({ length: 200 }, (_, i) => 400 + i),
    ...(json === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
  });
  let text = await res.body.text();
  for (const [from, to] of Object.entries(names)) text = text.split(from).join(to);
  const body = JSON.parse(text) as Record<string, unknown>;
  delete body.updatedAt;
  return { status: res.statusCode, body };
}

test('a manifest of B\'s own listing A\'s hashes: B\'s profile tells neither A\'s blob\'s size nor that anybody holds it', async (t) => {
  const fx = await startFixture(t);
  const secret = { small: randomBytes(3333), big: randomBytes(8 * DEFAULT_CHUNK_SIZE) };
  for (const c of Object.values(secret)) await fx.alice.putBlob(sha256(c), c, c.length);
  const own = randomBytes(1111);
  await fx.bob.putBlob(sha256(own), own, own.length);
  // B knows A's hashes only. His manifest lists them beside his own file; a twin lists
  // hashes nobody holds, with the same sizes.
  const crafted = async (small: string, big: string) => {
    const file = (path: string, size: number, hash: string): ManifestEntry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size, hash });
    const blob = encodeManifest({
      version: MANIFEST_VERSION, config: emptyImageConfig(),
      entries: [{ path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }, file('own', own.length, sha256(own)), file('small', secret.small.length, small), file('big', secret.big.length, big)],
      chunks: { chunkSize: DEFAULT_CHUNK_SIZE, byBlob: { [big]: Array.from({ length: 8 }, (_, i) => sha256(`chunk ${i}`)) } },
    });
    await fx.bob.putBlob(sha256(blob), blob, blob.length);
    return { id: sha256(blob), small, big };
  };
  const cases = [await crafted(sha256(secret.small), sha256(secret.big)), await crafted(sha256('nobody small'), sha256('nobody big'))];
  const answers = [];
  for (const c of cases) {
    const names = { [c.id]: 'ID', [c.small]: 'SMALL', [c.big]: 'BIG' };
    const path = `/v1/profiles/${c.id}`;
    answers.push([
      await answer(fx.bob, path, { hashes: [sha256(own), c.small] }, names),
      await answer(fx.bob, path, { hashes: [sha256(own)], chunks: [{ hash: c.big, runs: [[0, 2]] }] }, names),
      await answer(fx.bob, path, { hashes: [c.big] }, names),
      await answer(fx.bob, path, { hashes: [sha256(own)] }, names),
      await answer(fx.bob, path, undefined, names),
    ]);
  }
  assert.deepEqual(answers[0], answers[1], 'A\'s hashes are answered exactly like hashes nobody holds');
  const got = answers[0]!.at(-1)!;
  assert.equal(got.status, 200);
  assert.deepEqual(got.body, { id: 'ID', hashes: [sha256(own)], sizes: [own.length], chunks: [] }, 'B\'s profile holds his own blob only');
  assert.ok(answers[0]!.slice(0, 3).every((a) => a.status === 400), 'A\'s blobs cannot enter B\'s profile');
});

test('two users who export the same image keep a profile each: neither reads nor steers the other\'s, and a re-export carries over the publisher\'s own', async (t) => {
  const fx = await startFixture(t);
  const root = await makeTempDir(t, 'sway-profile-shared-');
  const files = Array.from({ length: 4 }, (_, i) => randomBytes(500 + i));
  await mkdir(join(root, 'app'));
  for (const [i, c] of files.entries()) await writeFile(join(root, 'app', `m${i}.py`), c);
  const a = await publishTree(fx.alice, root, 'alice/app:latest', { workingDir: '/app' });
  const b = await publishTree(fx.bob, root, 'bob/app:latest', { workingDir: '/app' });
  assert.equal(a.id, b.id, 'the same image id');
  const h = files.map((c) => sha256(c));

  await fx.alice.putProfile(a.id, [h[2]!, h[0]!]);
  assert.equal(await fx.bob.getStartProfile(b.id), undefined, 'A\'s recorded order is not B\'s');
  await fx.bob.putProfile(b.id, [h[3]!, h[1]!]);
  assert.deepEqual(await fx.alice.getProfile(a.id), [h[2], h[0]], 'B\'s PUT did not change A\'s profile');
  assert.deepEqual(await fx.bob.getProfile(b.id), [h[3], h[1]], 'B sees his own order only');

  // A re-exports with m0.py changed: her new image starts from her profile, not B's.
  const changed = randomBytes(700);
  await writeFile(join(root, 'app', 'm0.py'), changed);
  const a2 = await publishTree(fx.alice, root, 'alice/app:latest', { workingDir: '/app' });
  assert.deepEqual(await fx.alice.getProfile(a2.id), [h[2], sha256(changed)]);
  assert.deepEqual(await fx.bob.getProfile(b.id), [h[3], h[1]]);
});

test('profiles stored by an earlier version (one per image, no owner) are dropped at upgrade', async (t) => {
  const dataDir = await makeTempDir(t, 'sway-profile-upgrade-');
  const content = Buffer.from('a file of the image');
  const manifest = encodeManifest({ version: MANIFEST_VERSION, config: emptyImageConfig(), entries: [
    { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.length, hash: sha256(content) },
  ] });
  const id = sha256(manifest);
  const old = new Database(databasePath(dataDir));
  old.exec(`CREATE TABLE image_profiles (image_id TEXT PRIMARY KEY, hashes TEXT NOT NULL, updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL, chunks TEXT NOT NULL DEFAULT '[]')`);
  old.prepare('INSERT INTO image_profiles VALUES (?, ?, ?, ?, ?)').run(id, JSON.stringify([sha256(content)]), Date.now(), 'w', '[]');
  old.close();
  const fx = await startFixture(t, { dataDir });
  for (const [c, h] of [[content, sha256(content)], [manifest, id]] as const) await fx.alice.putBlob(h, c, c.length);
  await fx.alice.setImage('alice/app:latest', id);
  assert.equal(await fx.alice.getStartProfile(id), undefined, 'the shared profile is nobody\'s');
  assert.deepEqual(await fx.alice.putProfile(id, [sha256(content)]), [sha256(content)]);
  assert.deepEqual(await fx.alice.getProfile(id), [sha256(content)]);
});
