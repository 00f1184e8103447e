// POST /v1/blobs/fetch-batch at a real `sway fileserver` process: asking for one blob
// 10,000 times, or for 100 MB of distinct blobs, gets each blob once, and the server's
// peak memory (VmHWM, reset before each request) grows by a few MB, not by the response.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { makeTempDir } from '../helpers/tmp.js';
import { runSway, startSway } from '../helpers/cli.js';
import { FileserverClient, type UploadFile } from '../../ts/common/fileserver-client.js';
import { sha256 } from '../../ts/common/hash.js';
import { LIMITS } from '../../ts/common/protocol.js';
import { statusOf } from './fixture.js';

const BLOB_BYTES = 256 * 1024;
/** What a response may add to the server's peak RSS (a 256 KiB blob 10,000 times is 2.6 GB). */
const MAX_PEAK_GROWTH = 64 * 1024 * 1024;

/** Kernel counters of a process, in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Run one request and return how far above the RSS before it the process's peak went. */
async function peakGrowth(pid: number, request: () => Promise<void>): Promise<number> {
  writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM := VmRSS now
  const before = memoryOf(pid).rss;
  await request();
  return memoryOf(pid).peak - before;
}

async function user(dir: string, name: string): Promise<string> {
  const add = await runSway(['fileserver', 'adduser', name, '--data-dir', dir]);
  assert.equal(add.code, 0, add.stderr);
  return add.stdout.trim();
}

test('fetch-batch answers each hash once and holds a few MB, whatever it is asked for', { timeout: 300_000 }, async (t) => {
  const dir = await makeTempDir(t, 'sway-fs-batchmem-');
  const [aliceToken, bobToken] = [await user(dir, 'alice'), await user(dir, 'bob')];
  const server = startSway(['fileserver', '--data-dir', dir, '--host', '127.0.0.1', '--port', '0']);
  t.after(() => server.stop());
  const m = await server.waitForOutput(/fileserver listening on (https:\/\/\S+) ca=(\S+)/, 120_000);
  const client = (token: string) => {
    const c = new FileserverClient({ url: m[1]!, token, caFile: m[2]!, headersTimeoutMs: 120_000, bodyTimeoutMs: 120_000 });
    t.after(() => c.close());
    return c;
  };
  const alice = client(aliceToken), bob = client(bobToken);
  const pid = server.child.pid!;

  // 401 distinct 256 KiB blobs of alice's (100 MB), and one of bob's.
  const blobs = Array.from({ length: 401 }, () => randomBytes(BLOB_BYTES));
  const hashes = blobs.map((b) => sha256(b));
  for (let i = 0; i < blobs.length; i += 100) {
    const files: UploadFile[] = blobs.slice(i, i + 100).map((b, j) => ({ key: `f${i + j}`, hash: hashes[i + j]!, size: b.length, open: () => b }));
    await alice.batchUpload(files);
  }
  const bobs = randomBytes(1000);
  await bob.putBlob(sha256(bobs), bobs, bobs.length);

  const fetch = async (asked: string[]) => {
    const got = new Map<string, number>();
    const { missing } = await alice.fetchBatch(asked, (hash, content) => {
      assert.equal(content.length, BLOB_BYTES);
      got.set(hash, (got.get(hash) ?? 0) + 1);
    });
    return { got, missing };
  };

  // One blob, as many times as a request may name it.
  let res!: Awaited<ReturnType<typeof fetch>>;
  const one = await peakGrowth(pid, async () => { res = await fetch(Array.from({ length: LIMITS.maxHashesPerFetch }, () => hashes[0]!)); });
  assert.deepEqual([...res.got], [[hashes[0], 1]], 'a blob asked for 10,000 times is sent once');
  assert.deepEqual(res.missing, []);
  assert.ok(one < MAX_PEAK_GROWTH, `the server's peak RSS grew by ${(one / 2 ** 20).toFixed(0)} MiB for one blob asked 10,000 times`);

  // 100 MB of distinct blobs, each asked for twice, and one that is not alice's three times.
  const asked = [...hashes.slice(1), ...hashes.slice(1), sha256(bobs), sha256(bobs), sha256(bobs)];
  const many = await peakGrowth(pid, async () => { res = await fetch(asked); });
  assert.equal(res.got.size, 400);
  assert.ok([...res.got.values()].every((n) => n === 1), 'each distinct blob is sent once');
  assert.deepEqual(res.missing, [sha256(bobs)], 'the unreadable blob is answered once, as missing');
  assert.ok(many < MAX_PEAK_GROWTH, `the server's peak RSS grew by ${(many / 2 ** 20).toFixed(0)} MiB for 100 MB of distinct blobs`);

  t.diagnostic(`peak RSS growth: ${(one / 2 ** 20).toFixed(1)} MiB (one blob x10,000), ${(many / 2 ** 20).toFixed(1)} MiB (400 distinct, each twice)`);

  // Over the count, or a body far bigger than the hashes it may carry: refused before any work.
  assert.equal(await statusOf(alice.fetchBatch(Array.from({ length: LIMITS.maxHashesPerFetch + 1 }, () => hashes[0]!), () => {})), 413);
  const padded = alice.http.json('/v1/blobs/fetch-batch', { method: 'POST', json: { hashes: [hashes[0]], pad: 'x'.repeat(4 * 1024 * 1024) } });
  assert.equal(await statusOf(padded), 413);
});
