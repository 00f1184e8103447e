// kill -9 of the fileserver in the middle of uploads, several times: after each restart
// every acknowledged blob is present and intact, every stored blob matches its name,
// nothing staged is visible as a blob, and the staging area is emptied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { startSway, type RunningSway } from '../helpers/cli.js';
import { addUser } from '../../ts/fileserver/index.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { isHash, sha256 } from '../../ts/common/hash.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';
import { listFiles } from './fixture.js';

// SWAY_LONG_TESTS=1: the full fault run of issue 6 (20 kills, over 1000 acknowledged uploads).
const ROUNDS = process.env.SWAY_LONG_TESTS ? 20 : 4;
const ACKS_BEFORE_KILL = 60;

async function start(dataDir: string): Promise<{ proc: RunningSway; url: string; ca: string }> {
  const proc = startSway(['fileserver', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0']);
  const m = await proc.waitForOutput(/listening on (https:\/\/\S+) ca=(\S+)/, 120_000);
  return { proc, url: m[1]!, ca: m[2]! };
}

function randomBlob(): Buffer {
  // Mostly small files, some large enough to be mid-write when the kill lands.
  return randomBytes(randomInt(10) === 0 ? randomInt(256 * 1024, 2 * 1024 * 1024) : randomInt(0, 64 * 1024));
}

test('kill -9 during uploads loses no acknowledged blob and shows no partial one', { timeout: 600_000 }, async (t) => {
  const dataDir = await makeTempDir(t, 'sway-fs-crash-');
  const token = addUser(dataDir, 'alice');
  const acked = new Map<string, number>(); // hash → size
  let killed = 0;

  for (let round = 0; round < ROUNDS; round++) {
    const { proc, url, ca } = await start(dataDir);
    t.after(() => proc.stop());
    const client = new FileserverClient({ url, token, caFile: ca, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 });
    let stop = false;
    let roundAcks = 0;
    let reachedTarget!: () => void;
    const target = new Promise<void>((r) => (reachedTarget = r));
    const ack = (hash: string, size: number) => {
      acked.set(hash, size);
      if (++roundAcks === ACKS_BEFORE_KILL) reachedTarget();
    };
    const single = async () => {
      while (!stop) {
        const b = randomBlob();
        const h = sha256(b);
        try { await client.putBlob(h, b, b.length); ack(h, b.length); } catch { return; }
      }
    };
    const batches = async () => {
      while (!stop) {
        const files = Array.from({ length: 40 }, (_, i) => { const c = randomBlob(); return { key: `k${i}`, hash: sha256(c), size: c.length, open: () => c }; });
        try { await client.batchUpload(files); for (const f of files) ack(f.hash, f.size); } catch { return; }
      }
    };
    const workers = [single(), single(), single(), batches(), batches()];
    await target;
    // Land the kill at a random moment among the uploads still in flight.
    await new Promise((r) => setTimeout(r, randomInt(0, 50)));
    process.kill(-proc.child.pid!, 'SIGKILL');
    killed++;
    const status = await proc.exited;
    assert.equal(status.signal, 'SIGKILL');
    stop = true;
    await Promise.all(workers);
    await client.close().catch(() => {});
  }

  // Restart once more: staging is cleared, and every acknowledged blob reads back intact.
  const { proc, url, ca } = await start(dataDir);
  t.after(() => proc.stop());
  assert.deepEqual(readdirSync(join(dataDir, 'tmp')), []);
  const client = new FileserverClient({ url, token, caFile: ca });
  t.after(() => client.close());
  for (const [hash, size] of acked) {
    const res = await client.http.request(`/v1/blobs/${hash}`);
    const body = Buffer.from(await res.body.arrayBuffer());
    assert.equal(body.length, size, `acknowledged blob ${hash} has the wrong size`);
    assert.equal(sha256(body), hash, `acknowledged blob ${hash} is corrupt`);
  }
  // Everything under blobs/ is a complete blob at its own name: nothing partial is visible.
  const stored = listFiles(join(dataDir, 'blobs'));
  for (const rel of stored) {
    const name = rel.split('/').pop()!;
    assert.ok(isHash(name), `unexpected file in the blob store: ${rel}`);
    assert.equal(rel, blobRelPath(name));
    assert.equal(sha256(readFileSync(join(dataDir, 'blobs', rel))), name, `stored blob ${rel} does not match its hash`);
  }
  assert.ok(stored.length >= acked.size);
  t.diagnostic(`${killed} kills, ${acked.size} acknowledged blobs all intact, ${stored.length} blobs stored, ${stored.length - acked.size} stored but unacknowledged`);
  assert.equal(killed, ROUNDS);
});
