// Integrity, end to end (real fileserver over TLS, real `sway worker`, FUSE, runc):
// - one byte flipped in each of 100 blobs on the fileserver's disk: every read of those
//   files in a container fails with EIO, twice each; not one byte reaches the reader;
//   nothing lands in the worker's cache (no entry, no temp file); the worker's log names
//   each failure by hash (and never a token) and /metrics counts each one, apart from
//   other failures; with the blobs repaired, the same files read right;
// - a server that answers with an HTML page, a body one byte short, or a reset in the
//   middle of a body (a lying HTTPS server holding the fileserver's own certificate, put
//   in its place by the proxy): EIO in the container, nothing cached, no temp file left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createServer, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { startCluster, metricValue, type Cluster, type DataFile } from './harness.js';
import { HAVE_RUNTIME } from '../worker/fixtures.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';
import { ensureTlsMaterial } from '../../ts/common/tls.js';
import { fanoutPath } from '../../ts/common/hash.js';

const skip = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';
const EIO = /I\/O error|Input\/output error/;

/**
 * Every file under the worker's cache that is neither a cached blob (`ab/cd/<hash>`), a
 * partially fetched big file with its chunk list (`partial/ab/cd/<hash>[.chunks]`), nor
 * the durability checkpoint: temp files and strays.
 */
async function cacheLeftovers(c: Cluster): Promise<string[]> {
  const root = join(c.workerData, 'cache');
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  const leftovers: string[] = [];
  for (const e of entries) {
    if (!(await stat(join(root, e)).catch(() => undefined))?.isFile()) continue;
    if (/^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(e) || /^partial\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}(\.chunks)?$/.test(e) || e === 'durable-before') continue;
    leftovers.push(e);
  }
  return leftovers;
}

function inCache(c: Cluster, hash: string): boolean {
  return existsSync(join(c.workerData, 'cache', fanoutPath(hash)));
}

/** One line per read: `<path> <bytes that reached the reader> <cat's error>`. */
function readEach(files: DataFile[], times: number): string[] {
  const list = files.map((f) => `/${f.rel}`).join(' ');
  return ['sh', '-c', `for k in $(seq ${times}); do for f in ${list}; do n=$(cat $f 2>/tmp/e | wc -c); echo "$f $n $(cat /tmp/e)"; done; done`];
}

function parseReads(stdout: string): { path: string; bytes: number; error: string }[] {
  return stdout.trim().split('\n').map((line) => {
    const [path, bytes, ...rest] = line.split(' ');
    return { path: path!, bytes: Number(bytes), error: rest.join(' ') };
  });
}

test('a byte flipped in 100 stored blobs: EIO on every read, nothing cached, each failure logged and counted', { skip, timeout: 240_000 }, async (t) => {
  const c = await startCluster(t, { dataFiles: 100 });
  const worker = await c.startWorker();
  const warm = await c.run(['true']);
  assert.equal(warm.exit, 0, warm.stderr);

  const originals = new Map<string, Buffer>();
  for (const f of c.files) {
    const path = c.storedBlobPath(f.hash);
    const bytes = readFileSync(path);
    originals.set(f.hash, Buffer.from(bytes));
    const at = Math.floor(Math.random() * bytes.length);
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(path, bytes);
  }

  const r = await c.run(readEach(c.files, 2));
  assert.equal(r.exit, 0, r.stderr);
  const reads = parseReads(r.stdout);
  assert.equal(reads.length, 200);
  for (const read of reads) {
    assert.equal(read.bytes, 0, `${read.path}: no byte reached the reader`);
    assert.match(read.error, EIO, `${read.path}: EIO`);
  }
  for (const f of c.files) assert.equal(inCache(c, f.hash), false, `${f.rel}: not cached`);
  assert.deepEqual(await cacheLeftovers(c), [], 'no temp file in the cache');

  const log = worker.log();
  for (const f of c.files) {
    const lines = log.split('\n').filter((l) => l.includes(`blob ${f.hash}: integrity failure`));
    assert.equal(lines.length, 2, `${f.rel}: one log line per failed read`);
    assert.equal(c.requestsFor(f.hash), 2, `${f.rel}: one request per read (wrong bytes are not retried)`);
  }
  assert.ok(!log.includes(c.aliceToken) && !log.includes(c.workerToken), 'no token in the worker log');
  assert.equal(await metricValue(c, 'sway_worker_blob_integrity_failures_total'), 200);
  assert.equal(await metricValue(c, 'sway_worker_blob_fetch_failures_total{kind="integrity"}'), 200);
  assert.equal(await metricValue(c, 'sway_worker_blob_fetch_failures_total{kind="unavailable"}'), 0, 'integrity failures are counted apart');
  assert.equal(await metricValue(c, 'sway_worker_blob_fetch_retries_total'), 0);

  // Repaired on the server: the same files read right at once (no failure was remembered).
  for (const [hash, bytes] of originals) writeFileSync(c.storedBlobPath(hash), bytes);
  const ok = await c.run(['sh', '-c', `sha256sum ${c.files.map((f) => `/${f.rel}`).join(' ')}`]);
  assert.equal(ok.exit, 0, ok.stderr);
  const sums = new Map(ok.stdout.trim().split('\n').map((l) => { const [h, p] = l.split(/\s+/); return [p!, h!]; }));
  for (const f of c.files) assert.equal(sums.get(`/${f.rel}`), f.hash, `${f.rel} after repair`);
  t.diagnostic(`flipped: 200 reads, 200 EIO, 0 bytes delivered, 0 cached, 200 integrity failures counted and logged`);
});

test('an HTML page, a body one byte short, a reset mid-body: EIO in the container, nothing cached, no temp file', { skip, timeout: 240_000 }, async (t) => {
  const c = await startCluster(t, { dataFiles: 12, bigBytes: 64 * 1024 });
  const worker = await c.startWorker();
  const warm = await c.run(['true']);
  assert.equal(warm.exit, 0, warm.stderr);

  // The liar holds the fileserver's own certificate: the worker cannot tell it apart by TLS.
  const tls = ensureTlsMaterial(join(c.fsData, 'tls'));
  const sizes = new Map(c.files.map((f) => [f.hash, f.size]));
  let mode: 'html' | 'short' | 'reset' = 'html';
  const lies = new Map<string, number>();
  const liar = createServer({ cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) }, (req, res) => {
    const m = /^\/v1\/blobs\/([0-9a-f]{64})$/.exec(req.url ?? '');
    const size = m ? sizes.get(m[1]!) : undefined;
    if (req.method === 'GET' && m && size !== undefined) {
      lies.set(`${mode} ${m[1]}`, (lies.get(`${mode} ${m[1]}`) ?? 0) + 1);
      if (mode === 'html') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html><body>Please log in to the hotel network</body></html>');
      } else {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
        const sent = mode === 'short' ? size - 1 : Math.floor(size / 2);
        res.write(Buffer.alloc(sent, 0x41), () => res.socket?.destroy());
      }
      return;
    }
    // Anything else (whoami, image names) goes to the real fileserver.
    const up = httpsRequest({ host: '127.0.0.1', port: c.fileserverPort(), method: req.method, path: req.url, headers: req.headers, ca: readFileSync(c.ca) }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => { liar.closeAllConnections(); liar.close(() => resolve()); }));
  c.proxy.divert((liar.address() as { port: number }).port);

  const modes = ['html', 'short', 'reset'] as const;
  for (const [i, m] of modes.entries()) {
    mode = m;
    const victims = c.files.slice(i * 3, i * 3 + 3);
    // In parallel: each unavailable-looking failure is retried until the deadline.
    const list = victims.map((f) => `/${f.rel}`).join(' ');
    const r = await c.run(['sh', '-c', `for f in ${list}; do (n=$(cat $f 2>/tmp/e$$-$(basename $f) | wc -c); echo "$f $n $(cat /tmp/e$$-$(basename $f))") & done; wait`]);
    assert.equal(r.exit, 0, r.stderr);
    const reads = parseReads(r.stdout);
    assert.equal(reads.length, 3, r.stdout);
    for (const read of reads) {
      assert.equal(read.bytes, 0, `${m} ${read.path}: no byte reached the reader`);
      assert.match(read.error, EIO, `${m} ${read.path}: EIO`);
    }
    for (const f of victims) {
      assert.ok((lies.get(`${m} ${f.hash}`) ?? 0) >= 1, `${m}: the liar answered for ${f.rel}`);
      assert.equal(inCache(c, f.hash), false, `${m}: ${f.rel} not cached`);
    }
    assert.deepEqual(await cacheLeftovers(c), [], `${m}: no temp file in the cache`);
  }
  const log = worker.log();
  for (const f of c.files.slice(0, 3)) assert.match(log, new RegExp(`blob ${f.hash}: integrity failure`), 'an HTML page is wrong bytes');

  c.proxy.divert(undefined);
  const ok = await c.run(['sh', '-c', `sha256sum ${c.files.slice(0, 9).map((f) => `/${f.rel}`).join(' ')}`]);
  assert.equal(ok.exit, 0, ok.stderr);
  for (const f of c.files.slice(0, 9)) assert.match(ok.stdout, new RegExp(`^${f.hash}\\s+/${f.rel}$`, 'm'), `${f.rel} reads right from the real fileserver`);
  t.diagnostic(`liar: ${[...lies].map(([k, n]) => `${k.slice(0, 12)}:${n}`).join(' ')}`);
});
