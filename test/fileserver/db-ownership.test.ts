// Blob ownership in the fileserver's database: which of a sync's hashes a user lacks
// (each once, in the order asked), ownership recorded for a whole batch at once, and the
// "relied on" time that keeps GC off a blob refreshed by both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FileserverDb } from '../../ts/fileserver/db.js';
import { sha256 } from '../../ts/common/hash.js';
import { makeTempDir } from '../helpers/tmp.js';

test('notOwned answers each missing hash once, in order; recordOwnership owns a batch; both refresh the relied-on time', async (t) => {
  const db = new FileserverDb(join(await makeTempDir(t, 'sway-db-'), 'fileserver.db'));
  t.after(() => db.close());
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => sha256(x)) as [string, string, string, string];
  assert.deepEqual(db.notOwned('alice', []), []);
  assert.deepEqual(db.notOwned('alice', [c, a, c, b, a]), [c, a, b]);
  const before = Date.now();
  db.recordOwnership('alice', [a, b, b]);
  assert.ok(db.ownsAll('alice', [a, b]));
  assert.ok(!db.ownsBlob('alice', c));
  assert.ok(!db.ownsBlob('bob', a), 'ownership is per user');
  assert.deepEqual(db.notOwned('alice', [d, a, c, b]), [d, c]);
  assert.deepEqual(db.notOwned('bob', [a]), [a]);
  assert.ok(db.reliedOnSince(a, before), 'owning it counts as relying on it');
  // A sync that finds the blob owned touches it: relied on again, later than a cutoff after the first.
  await new Promise((r) => setTimeout(r, 5));
  const cutoff = Date.now();
  assert.ok(!db.reliedOnSince(b, cutoff + 1));
  db.notOwned('alice', [b]);
  assert.ok(db.reliedOnSince(b, cutoff), 'touched by the sync');
  assert.ok(!db.reliedOnSince(a, cutoff), 'not asked about: not touched');
  // Thousands at once: one statement each way.
  const many = Array.from({ length: 5000 }, (_, i) => sha256(`x${i}`));
  assert.equal(db.notOwned('carol', many).length, 5000);
  db.recordOwnership('carol', many);
  assert.deepEqual(db.notOwned('carol', many), []);
});
