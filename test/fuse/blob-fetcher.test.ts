// The retry policy of blob fetches: bounded attempts with backoff, one overall deadline
// that holds even against a fetcher that never settles, cancellation, and a blob that
// is already in place needing no fetch at all; wrong bytes and refusals are not retried;
// the defaults ride out a 2 s outage; every failed attempt reaches the observer with its
// kind; the deadline grows with the blob's size. No mount involved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdir, truncate, readdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { fetchWithRetry, transferAllowanceMs, DEFAULT_RETRY_POLICY, type BlobFetcher, type FetchFailureKind } from '../../ts/worker/fuse/blob-fetcher.js';
import { HashMismatchError, RemoteError, UnreachableError } from '../../ts/common/errors.js';

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

function recorder() {
  const seen: { kind: FetchFailureKind; willRetry: boolean }[] = [];
  return { seen, observer: { attemptFailed: (_h: string, kind: FetchFailureKind, _e: unknown, willRetry: boolean) => { seen.push({ kind, willRetry }); } } };
}

test('wrong bytes and refusals are not retried; the observer hears each failed attempt with its kind', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  for (const [err, kind] of [
    [new HashMismatchError(HASH, 'b'.repeat(64), 'blob'), 'integrity'],
    [new RemoteError('SWAY_NOT_FOUND', 'no such blob', 404), 'rejected'],
  ] as const) {
    let calls = 0;
    const f: BlobFetcher = { fetch: async () => { calls++; throw err; } };
    const rec = recorder();
    await assert.rejects(fetchWithRetry(f, HASH, 5, join(dir, 'x'), { retries: 5, timeoutMs: 30_000, observer: rec.observer }),
      (e: Error & { code?: string; kind?: string }) => e.code === 'SWAY_BLOB_FETCH' && e.kind === kind);
    assert.equal(calls, 1, `${kind}: one attempt only`);
    assert.deepEqual(rec.seen, [{ kind, willRetry: false }]);
  }
});

test('with the default policy a 2 s outage is ridden out, counted as retries', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  const upAt = Date.now() + 2000;
  let calls = 0;
  const f: BlobFetcher = {
    async fetch(_h, _s, dest) {
      calls++;
      if (Date.now() < upAt) throw new UnreachableError('fileserver', 'https://x', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));
      await mkdir(dirname(dest), { recursive: true });
      await writeFile(dest, 'hello');
    },
  };
  const rec = recorder();
  await fetchWithRetry(f, HASH, 5, join(dir, 'x'), { ...DEFAULT_RETRY_POLICY, observer: rec.observer });
  assert.ok(calls > 1 && calls <= DEFAULT_RETRY_POLICY.retries + 1, `attempts bounded: ${calls}`);
  assert.equal(rec.seen.length, calls - 1);
  assert.ok(rec.seen.every((s) => s.kind === 'unavailable' && s.willRetry));
});

test('a server refusing for good: attempts stop at the deadline and at most retries+1', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  let calls = 0;
  const f: BlobFetcher = { fetch: async () => { calls++; throw new UnreachableError('fileserver', 'https://x'); } };
  const rec = recorder();
  const started = Date.now();
  await assert.rejects(fetchWithRetry(f, HASH, 5, join(dir, 'x'), { retries: 20, timeoutMs: 1500, observer: rec.observer }), { code: 'SWAY_BLOB_FETCH' });
  assert.ok(Date.now() - started < 1500 + 1000, 'the deadline holds');
  assert.ok(calls >= 3 && calls <= 21, `attempts: ${calls}`);
  assert.equal(rec.seen.at(-1)!.willRetry, false, 'the last attempt is not announced as retried');
  const few = { n: 0 };
  const g: BlobFetcher = { fetch: async () => { few.n++; throw new UnreachableError('fileserver', 'https://x'); } };
  await assert.rejects(fetchWithRetry(g, HASH, 5, join(dir, 'y'), { retries: 2, timeoutMs: 60_000 }), { code: 'SWAY_BLOB_FETCH' });
  assert.equal(few.n, 3, 'the maximum number of attempts holds');
});

test('a big blob gets time to arrive: the deadline grows 100 ms per MB, a small one keeps its bound', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  const size = 30_000_000; // + 3 s of transfer allowance
  assert.equal(transferAllowanceMs(size), 3000);
  let calls = 0;
  const slow: BlobFetcher = {
    async fetch(_hash, bytes, dest, signal) {
      calls++;
      await sleep(1500, undefined, { signal }); // bytes still arriving after the bare 1 s deadline
      await mkdir(dirname(dest), { recursive: true });
      await writeFile(dest, '');
      await truncate(dest, bytes);
    },
  };
  await fetchWithRetry(slow, HASH, size, join(dir, 'big'), { retries: 3, timeoutMs: 1000 });
  assert.equal(calls, 1, 'one attempt, not cut off');
  // The same fetcher on a small blob: still bounded by the bare deadline.
  const started = Date.now();
  await assert.rejects(fetchWithRetry(slow, HASH, 5, join(dir, 'small'), { retries: 3, timeoutMs: 1000 }), { code: 'SWAY_BLOB_FETCH' });
  assert.ok(Date.now() - started < 1400, 'a small blob keeps the bare deadline');
});

test('an aborted attempt finishes removing its temp file before the failure is reported', async (t) => {
  const dir = await makeTempDir(t, 'sway-fetch-');
  const dest = join(dir, 'x');
  const tmp = `${dest}.tmp-test`;
  // Like a real fetcher: the temp file exists while the request hangs; on abort it is
  // removed, a little later (an unlink on a busy disk is not instant).
  const slowCleanup: BlobFetcher = {
    async fetch(_hash, _size, _dest, signal) {
      await writeFile(tmp, 'partial');
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      await sleep(150);
      await rm(tmp, { force: true });
      throw new Error('aborted');
    },
  };
  await assert.rejects(fetchWithRetry(slowCleanup, HASH, 5, dest, { retries: 0, timeoutMs: 200 }), { code: 'SWAY_BLOB_FETCH' });
  assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.tmp')), [], 'no temp file left when the caller hears of the failure');
});
