// The retry policy of blob fetches: bounded attempts with backoff, one overall deadline
// that holds even against a fetcher that never settles, cancellation, and a blob that
// is already in place needing no fetch at all. No mount involved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { fetchWithRetry, type BlobFetcher } from '../../ts/worker/fuse/blob-fetcher.js';

const HASH = 'a'.repeat(64);

function fetcherFailing(times: number, content = Buffer.from('hello')): BlobFetcher & { calls: number } {
  const f = {
    calls: 0,
    async fetch(_hash: string, _size: number, dest: string): Promise<void> {
      f.calls++;
      if (f.calls <= times) throw new Error(`attempt ${f.calls} failed`);
      await mkdir(dirname(dest), { recursive: true });
      await writeFile(dest, content);
    },
  };
  return f;
}

test('a fetch that fails twice succeeds on the third attempt', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  const f = fetcherFailing(2);
  await fetchWithRetry(f, HASH, 5, join(dir, 'x'), { retries: 3, timeoutMs: 30_000 });
  assert.equal(f.calls, 3);
});

test('retries are bounded and the error names the blob and the last cause', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  const f = fetcherFailing(100);
  await assert.rejects(fetchWithRetry(f, HASH, 5, join(dir, 'x'), { retries: 2, timeoutMs: 30_000 }),
    (err: Error & { code?: string }) => err.code === 'SWAY_BLOB_FETCH' && err.message.includes(HASH) && err.message.includes('attempt 3 failed'));
  assert.equal(f.calls, 3);
});

test('the deadline holds against a fetcher that never settles', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  const never: BlobFetcher = { fetch: () => new Promise(() => {}) };
  await assert.rejects(fetchWithRetry(never, HASH, 5, join(dir, 'x'), { retries: 5, timeoutMs: 300 }), { code: 'SWAY_BLOB_FETCH' });
});

test('cancellation stops the fetch; a blob already in place needs no fetch', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  const ac = new AbortController();
  const never: BlobFetcher = { fetch: () => new Promise(() => {}) };
  const pending = fetchWithRetry(never, HASH, 5, join(dir, 'x'), { retries: 5, timeoutMs: 60_000, signal: ac.signal });
  ac.abort();
  await assert.rejects(pending, { code: 'SWAY_BLOB_FETCH' });
  await writeFile(join(dir, 'present'), 'hello');
  const f = fetcherFailing(0);
  await fetchWithRetry(f, HASH, 5, join(dir, 'present'), { retries: 0, timeoutMs: 1000 });
  assert.equal(f.calls, 0);
});

test('a fetcher that resolves without producing the file counts as a failure', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  const liar: BlobFetcher = { fetch: async () => {} };
  await assert.rejects(fetchWithRetry(liar, HASH, 5, join(dir, 'x'), { retries: 1, timeoutMs: 10_000 }), /does not hold 5 bytes/);
});
