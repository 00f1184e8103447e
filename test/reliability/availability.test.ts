// Availability, end to end (real fileserver over TLS behind a fault proxy, real `sway
// worker` at its DEFAULT fetch bounds, FUSE, runc):
// - a fileserver refusing connections: the reader gets EIO within 10 s; one accepting and
//   never answering: EIO within 15 s; retries are counted and bounded (/metrics, log);
// - a 2 s outage in the middle of a cold start: the run still succeeds, all bytes right;
// - the fileserver gone for good (kill -9): every file already in the disk cache is still
//   readable, and a real `sway run` of the fully cached image succeeds;
// - 100 concurrent readers of one uncached blob: one request at the fileserver.
// Reads are timed by the arrival of the container's own output lines around them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startCluster, metricValue, IMAGE, type Cluster } from './harness.js';
import { HAVE_RUNTIME } from '../worker/fixtures.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';
import { DEFAULT_RETRY_POLICY } from '../../ts/worker/fuse/blob-fetcher.js';
import { runSway } from '../helpers/cli.js';

const skip = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';
const EIO = /I\/O error|Input\/output error/;

/** Run a shell script in a container; `onLine` sees each stdout line as it arrives. */
async function runLines(c: Cluster, script: string, onLine: (line: string, at: number) => void | Promise<void>) {
  let partial = '';
  const pending: Promise<void>[] = [];
  const r = await c.run(['sh', '-c', script], {
    onStdout: (s) => {
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) pending.push(Promise.resolve(onLine(line, Date.now())));
    },
  });
  await Promise.all(pending);
  return r;
}

/** Read one file while the proxy is in `mode`; returns the read's duration and outcome. */
async function readDuring(c: Cluster, rel: string, mode: 'refuse' | 'blackhole') {
  let startAt = 0, doneAt = 0, result = '';
  const r = await runLines(c, `echo ready; sleep 1; echo start; n=$(cat /${rel} 2>/tmp/e | wc -c); echo "done $n $(cat /tmp/e)"`, async (line, at) => {
    if (line === 'ready') await c.proxy.setMode(mode);
    else if (line === 'start') startAt = at;
    else if (line.startsWith('done ')) { doneAt = at; result = line; }
  });
  await c.proxy.setMode('pass');
  assert.equal(r.exit, 0, r.stderr);
  return { seconds: (doneAt - startAt) / 1000, result };
}

test('refused: EIO within 10 s; never answering: EIO within 15 s; retries counted and bounded', { skip, timeout: 240_000 }, async (t) => {
  const c = await startCluster(t, { dataFiles: 4, bigBytes: 1024 });
  const worker = await c.startWorker();
  assert.equal((await c.run(['true'])).exit, 0);

  const figures: string[] = [];
  for (const [i, mode, bound] of [[0, 'refuse', 10], [1, 'blackhole', 15]] as const) {
    const f = c.files[i]!;
    const retriesBefore = await metricValue(c, 'sway_worker_blob_fetch_retries_total');
    const failedBefore = await metricValue(c, 'sway_worker_blob_fetch_failures_total{kind="unavailable"}');
    const { seconds, result } = await readDuring(c, f.rel, mode);
    assert.match(result, /^done 0 /, `${mode}: no byte reached the reader`);
    assert.match(result, EIO, `${mode}: EIO`);
    assert.ok(seconds < bound, `${mode}: EIO after ${seconds.toFixed(1)} s, bound ${bound} s`);
    const retries = await metricValue(c, 'sway_worker_blob_fetch_retries_total') - retriesBefore;
    assert.ok(retries >= 1 && retries <= DEFAULT_RETRY_POLICY.retries, `${mode}: ${retries} retries, counted and bounded`);
    assert.equal(await metricValue(c, 'sway_worker_blob_fetch_failures_total{kind="unavailable"}') - failedBefore, 1, `${mode}: one fetch given up`);
    const retryLines = worker.log().split('\n').filter((l) => l.includes(`blob ${f.hash}: fetch attempt failed (unavailable), retrying`));
    assert.equal(retryLines.length, retries, `${mode}: one log line per retry`);
    assert.match(worker.log(), new RegExp(`blob ${f.hash} could not be fetched, reader got EIO`));
    figures.push(`${mode}: EIO after ${seconds.toFixed(1)} s, ${retries} retries`);

    // Back up: the same file reads right at once.
    const ok = await c.run(['sha256sum', `/${f.rel}`]);
    assert.equal(ok.stdout.split(/\s+/)[0], f.hash, `${mode}: read after recovery`);
  }
  assert.ok(!worker.log().includes(c.aliceToken) && !worker.log().includes(c.workerToken), 'no token in the worker log');
  t.diagnostic(figures.join('; '));
});

test('a 2 s outage in the middle of a cold start: the run still succeeds', { skip, timeout: 240_000 }, async (t) => {
  const c = await startCluster(t, { dataFiles: 30, bigBytes: 1024 });
  await c.startWorker();
  assert.equal((await c.run(['true'])).exit, 0);
  let outageAt = 0, outageEnd = 0;
  const list = c.files.map((f) => `/${f.rel}`).join(' ');
  // Files read one by one, 0.1 s apart: a 2 s outage lands in the middle of them.
  const r = await runLines(c, `for f in ${list}; do sha256sum $f || exit 1; sleep 0.1; done`, (line) => {
    if (line.endsWith(c.files[5]!.rel) && !outageAt) {
      outageAt = Date.now();
      void c.proxy.setMode('refuse');
      setTimeout(() => { outageEnd = Date.now(); void c.proxy.setMode('pass'); }, 2000);
    }
  });
  assert.equal(r.exit, 0, r.stderr);
  const sums = new Map(r.stdout.trim().split('\n').map((l) => { const [h, p] = l.split(/\s+/); return [p!, h!]; }));
  for (const f of c.files) assert.equal(sums.get(`/${f.rel}`), f.hash, f.rel);
  assert.ok(outageAt > 0 && outageEnd > outageAt, 'the outage happened during the run');
  const retries = await metricValue(c, 'sway_worker_blob_fetch_retries_total');
  assert.ok(retries >= 1, 'a fetch met the outage and was retried');
  assert.equal(await metricValue(c, 'sway_worker_blob_fetch_failures_total{kind="unavailable"}'), 0, 'no read gave up');
  t.diagnostic(`2 s outage: run exit 0, ${c.files.length} files right, ${retries} retries`);
});

test('the fileserver gone for good: cached files stay readable, `sway run` of the cached image succeeds', { skip, timeout: 240_000 }, async (t) => {
  const c = await startCluster(t, { dataFiles: 20, bigBytes: 512 * 1024 });
  await c.startWorker();
  const everything = 'find / -xdev -type f | grep -v "^/proc\\|^/sys\\|^/dev" | sort | xargs sha256sum';
  const before = await c.run(['sh', '-c', everything]);
  assert.equal(before.exit, 0, before.stderr);
  assert.ok(before.stdout.split('\n').length > c.files.length, before.stdout);

  await c.killFileserver();
  const after = await c.run(['sh', '-c', everything]);
  assert.equal(after.exit, 0, after.stderr);
  assert.equal(after.stdout, before.stdout, 'every cached file reads the same with the fileserver gone');

  // The real command line, as a user would: no fileserver anywhere.
  const cli = await runSway(['run', '--image', IMAGE, '--', 'sha256sum', `/${c.big.rel}`], {
    env: { SWAY_WORKER: c.client().http.url, SWAY_TOKEN: c.aliceToken, SWAY_CA: `${c.workerData}/tls/ca.pem`, SWAY_FILESERVER: c.proxy.url },
  });
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(cli.stdout, `${c.big.hash}  /${c.big.rel}\n`);
  const uncached = await runSway(['run', '--image', IMAGE, '--', 'cat', '/nonexistent-file'], {
    env: { SWAY_WORKER: c.client().http.url, SWAY_TOKEN: c.aliceToken, SWAY_CA: `${c.workerData}/tls/ca.pem`, SWAY_FILESERVER: c.proxy.url },
  });
  assert.equal(uncached.code, 1, 'the run itself works; only the missing file fails');
  t.diagnostic(`fileserver killed: ${after.stdout.trim().split('\n').length} cached files identical; sway run exit 0`);
});

test('100 concurrent readers of one uncached blob make one request to the fileserver', { skip, timeout: 240_000 }, async (t) => {
  // Under 1 MiB, so fetched whole (bigger files are fetched by chunk; one request per
  // chunk for concurrent readers is test/fuse/chunks.test.ts's).
  const c = await startCluster(t, { dataFiles: 1, bigBytes: 1000 * 1000 });
  await c.startWorker();
  assert.equal((await c.run(['true'])).exit, 0);
  // The fileserver is held silent while the readers start, so all 100 are waiting on the
  // blob at once; then it answers.
  const r = await runLines(c, `echo go; sleep 0.5; for i in $(seq 100); do (sha256sum /${c.big.rel} > /tmp/s$i) & done; echo spawned; wait; cat /tmp/s* | sort | uniq -c`, async (line) => {
    if (line === 'go') await c.proxy.setMode('blackhole');
    if (line === 'spawned') {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await c.proxy.setMode('pass');
    }
  });
  assert.equal(r.exit, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').at(-1)!.trim(), `100 ${c.big.hash}  /${c.big.rel}`, r.stdout);
  assert.equal(c.requestsFor(c.big.hash), 1, 'one request at the fileserver');
  t.diagnostic(`100 readers: ${c.requestsFor(c.big.hash)} request at the fileserver, ${c.proxy.connections} connections through the proxy`);
});
