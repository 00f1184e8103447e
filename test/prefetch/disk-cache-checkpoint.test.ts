// The disk cache's durability checkpoint (blobs are not fsynced one by one): opening a
// cache writes `durable-before`; at the next open, blobs modified after it are re-hashed
// and the torn ones removed, while blobs older than it are trusted without reading them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { DiskCache } from '../../ts/worker/fuse/disk-cache.js';
import { fanoutPath, sha256 } from '../../ts/common/hash.js';

async function put(dir: string, hash: string, content: Buffer, mtimeSec?: number): Promise<string> {
  const path = join(dir, fanoutPath(hash));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  if (mtimeSec !== undefined) await utimes(path, mtimeSec, mtimeSec);
  return path;
}

test('blobs written after the last checkpoint are re-hashed at open and torn ones removed; older ones are trusted', async (t) => {
  const dir = await makeTempDir(t, 'sway-cache-ckpt-');
  const first = await DiskCache.open(dir, 1e9);
  await first.close();
  const checkpoint = Number(await readFile(join(dir, 'durable-before'), 'utf8'));
  assert.ok(checkpoint > 0, 'opening and closing records a checkpoint');

  await new Promise((r) => setTimeout(r, 300)); // past the margin
  const good = randomBytes(5000);
  const goodPath = await put(dir, sha256(good), good);
  const tornHash = sha256(randomBytes(5000));
  const tornPath = await put(dir, tornHash, Buffer.alloc(5000)); // right size, zeros: a torn write
  const oldHash = sha256(randomBytes(100));
  const oldPath = await put(dir, oldHash, Buffer.alloc(100), Math.floor(checkpoint / 1000) - 3600);

  const second = await DiskCache.open(dir, 1e9);
  assert.deepEqual(second.recheckedAtOpen, { checked: 2, removed: 1 });
  assert.equal(existsSync(goodPath), true);
  assert.equal(existsSync(tornPath), false, 'the torn blob newer than the checkpoint is removed');
  assert.equal(second.has(tornHash), false);
  assert.equal(existsSync(oldPath), true, 'a blob older than the checkpoint is not read at open');
  assert.equal(second.has(oldHash), true);
  await new Promise((r) => setTimeout(r, 300)); // past the margin again
  await second.close();

  // The checkpoint moved: nothing is re-hashed at the next open.
  const third = await DiskCache.open(dir, 1e9);
  assert.deepEqual(third.recheckedAtOpen, { checked: 0, removed: 0 });
  await third.close();
});
