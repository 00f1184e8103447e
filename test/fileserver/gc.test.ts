// Garbage collection over real HTTPS: what it deletes, what it keeps (referenced,
// scripts, recently relied-on blobs of an export in progress), and that running it
// concurrently with exports never leaves a name pointing at a missing blob.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { startFixture, blob, statusOf, type Fixture } from './fixture.js';
import { EMPTY_HASH, sha256 } from '../../ts/common/hash.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';
import { encodeManifest, emptyImageConfig, type ManifestEntry } from '../../ts/common/manifest.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { databasePath } from '../../ts/fileserver/index.js';

function imageOf(contents: Buffer[]) {
  const entries: ManifestEntry[] = [{ path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }];
  contents.forEach((c, i) => entries.push({ path: `f${String(i).padStart(4, '0')}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: c.length, hash: c.length ? sha256(c) : EMPTY_HASH }));
  const manifest = encodeManifest({ version: 1, config: emptyImageConfig(), entries });
  return { id: sha256(manifest), manifest };
}

async function publish(client: FileserverClient, name: string, contents: Buffer[], beforeSetImage?: () => Promise<void>): Promise<string> {
  const img = imageOf(contents);
  const files = [...contents.map((c, i) => ({ key: `f${i}`, hash: sha256(c), size: c.length, open: () => c })),
    { key: 'manifest', hash: img.id, size: img.manifest.length, open: () => img.manifest }];
  const wanted = new Set(await client.sync(files.map((f) => ({ key: f.key, hash: f.hash }))));
  await client.batchUpload(files.filter((f) => wanted.has(f.key)));
  await beforeSetImage?.();
  await client.setImage(name, img.id);
  return img.id;
}

/** Make blobs look as if they were last uploaded or used two days ago. */
function backdate(f: Fixture, hashes: string[]): void {
  const db = new Database(databasePath(f.dataDir));
  try {
    const upd = db.prepare('UPDATE blob_owners SET touched_at = 0 WHERE hash = ?');
    for (const h of hashes) upd.run(h);
  } finally { db.close(); }
  const old = new Date(Date.now() - 2 * 86400_000);
  for (const h of hashes) utimesSync(join(f.dataDir, 'blobs', blobRelPath(h)), old, old);
}

test('gc deletes unreferenced stale blobs only; keeps images, scripts and fresh uploads', async (t) => {
  const f = await startFixture(t);
  const admin = f.client(f.server.addUser('root', 'admin'));
  const contents = [Buffer.from('one'), Buffer.from('two')];
  const imageId = await publish(f.alice, 'alice/app:v1', contents);
  const garbage = blob('alice garbage');
  await f.alice.putBlob(garbage.hash, garbage.content, garbage.content.length);
  const script = await f.alice.uploadScript(Buffer.from('print(1)'));
  const bobs = blob('bob garbage');
  await f.bob.putBlob(bobs.hash, bobs.content, bobs.content.length);
  backdate(f, [imageId, ...contents.map((c) => sha256(c)), garbage.hash, script, bobs.hash]);
  const fresh = blob('uploaded a moment ago by an export in progress');
  await f.alice.putBlob(fresh.hash, fresh.content, fresh.content.length);

  assert.equal(await statusOf(f.alice.gc()), 403);
  assert.equal(await statusOf(f.worker.gc()), 403);
  const dry = await admin.gc({ graceSeconds: 3600, dryRun: true });
  assert.equal(dry.deleted, 2);
  assert.ok(existsSync(join(f.dataDir, 'blobs', blobRelPath(garbage.hash))));

  const report = await admin.gc({ graceSeconds: 3600 });
  assert.equal(report.deleted, 2);
  assert.equal(report.bytesFreed, garbage.content.length + bobs.content.length);
  for (const h of [garbage.hash, bobs.hash]) assert.equal(existsSync(join(f.dataDir, 'blobs', blobRelPath(h))), false);
  assert.equal(await f.alice.hasBlob(garbage.hash), false);
  // Ownership went with the bytes: sync asks again, and the upload works again.
  assert.deepEqual(await f.bob.sync([{ key: 'b', hash: bobs.hash }]), ['b']);
  await f.bob.putBlob(bobs.hash, bobs.content, bobs.content.length);
  // Kept: the image, its blobs, the script, the fresh upload.
  for (const h of [imageId, ...contents.map((c) => sha256(c)), script, fresh.hash]) assert.equal(await f.alice.hasBlob(h), true, h);
  assert.equal((await f.alice.getManifest('alice/app:v1')).id, imageId);
  assert.deepEqual(await f.alice.getScript(script), Buffer.from('print(1)'));
  assert.equal(await statusOf(admin.gc({ graceSeconds: -1 })), 400);
});

test('gc drops the start profile of an image whose manifest it deletes, and keeps the profiles of kept images', async (t) => {
  const f = await startFixture(t);
  const admin = f.client(f.server.addUser('root', 'admin'));
  const old = [Buffer.from('old one'), Buffer.from('old two')];
  const oldId = await publish(f.alice, 'alice/app:v1', old);
  await f.alice.putProfile(oldId, old.map((c) => sha256(c)));
  // The name moves on: the old manifest is referenced by nothing any more.
  const now = [Buffer.from('new one')];
  const newId = await publish(f.alice, 'alice/app:v1', now);
  await f.alice.putProfile(newId, now.map((c) => sha256(c)));
  backdate(f, [oldId, newId, ...old.map((c) => sha256(c)), ...now.map((c) => sha256(c))]);
  const profileRows = () => {
    const db = new Database(databasePath(f.dataDir), { readonly: true });
    try { return db.prepare<[], { image_id: string }>('SELECT image_id FROM image_profiles ORDER BY image_id').all().map((r) => r.image_id); } finally { db.close(); }
  };
  assert.deepEqual(profileRows(), [oldId, newId].sort());
  const report = await admin.gc({ graceSeconds: 3600 });
  assert.equal(report.deleted, 3, 'the old manifest and its two files');
  assert.equal(await f.alice.hasBlob(oldId), false);
  assert.deepEqual(profileRows(), [newId]);
  assert.deepEqual(await f.alice.getStartProfile(oldId), undefined);
  assert.deepEqual((await f.alice.getStartProfile(newId))?.blobs.map((b) => b.hash), now.map((c) => sha256(c)));
});

test('gc running during exports never leaves a name pointing at a missing blob', { timeout: 300_000 }, async (t) => {
  const f = await startFixture(t);
  const admin = f.client(f.server.addUser('root', 'admin'));
  // Old garbage for GC to find while exports run.
  const old = Array.from({ length: 200 }, () => randomBytes(512));
  await f.alice.batchUpload(old.map((c, i) => ({ key: `g${i}`, hash: sha256(c), size: c.length, open: () => c })));
  backdate(f, old.map((c) => sha256(c)));

  const published = new Map<string, Buffer[]>();
  let exportsDone = false;
  let retries = 0;
  const exporter = async (n: number) => {
    for (let i = 0; i < 8; i++) {
      // Each export shares some content with older ones (sync says "you have it").
      const contents = Array.from({ length: 60 }, (_, j) => (j < 20 ? Buffer.from(`shared ${j}`) : randomBytes(1 + (j * 37) % 3000)));
      const name = `alice/app${n}:v${i}`;
      for (let attempt = 0; ; attempt++) {
        // First attempt of every other export: let a whole GC run pass between upload
        // and publish, as a slow export would.
        const pause = attempt === 0 && i % 2 === 0 ? () => nextGcRun() : undefined;
        try { await publish(f.alice, name, contents, pause); break; } catch (err) {
          // With grace 0 GC may take a blob between sync and publish: the publish is
          // refused (409), never half-done, and a retry re-uploads.
          if ((err as { status?: number }).status !== 409 || attempt > 20) throw err;
          retries++;
        }
      }
      published.set(name, contents);
    }
  };
  let gcRuns = 0, gcDeleted = 0;
  let gcWaiters: (() => void)[] = [];
  // Resolves after a GC run that started after this call has finished.
  const nextGcRun = () => new Promise<void>((resolve) => { const target = gcRuns + 2; const check = () => (gcRuns >= target ? resolve() : gcWaiters.push(check)); check(); });
  const collector = async () => {
    while (!exportsDone) {
      const r = await admin.gc({ graceSeconds: 0 });
      gcRuns++;
      gcDeleted += r.deleted;
      const waiters = gcWaiters; gcWaiters = [];
      waiters.forEach((w) => w());
    }
  };
  const gcLoop = collector();
  try { await Promise.all([exporter(1), exporter(2)]); } finally { exportsDone = true; await gcLoop; }
  assert.ok(retries > 0, 'GC never took a blob of an unpublished export: the race was not exercised');
  await admin.gc({ graceSeconds: 0 });

  for (const [name, contents] of published) {
    const m = await f.alice.getManifest(name);
    assert.equal(m.id, imageOf(contents).id);
    const got = new Map<string, Buffer>();
    const { missing } = await f.alice.fetchBatch(contents.map((c) => sha256(c)), (h, c) => { got.set(h, c); });
    assert.deepEqual(missing, [], `${name} lost blobs`);
  }
  for (const c of old) assert.equal(await f.alice.hasBlob(sha256(c)), false);
  t.diagnostic(`${published.size} images published during ${gcRuns} gc runs (${gcDeleted} blobs deleted, ${retries} publish retries); every image complete`);
});
