// Gzip on the wire end to end, with a real fileserver (TLS, SQLite), a real worker (FUSE,
// runc) and a relay between them that counts the bytes coming back: the first run of an
// image fetches plain blobs and makes the fileserver compress them; a cold run (restart on
// an empty cache) with gzip turned off moves the plain bytes again, one with gzip on gets
// the copies (prefetched by the start profile, or missed): the same verified content,
// at least three quarters fewer bytes on the link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir } from '../helpers/tmp.js';
import { startCountingRelay } from '../helpers/tcp-relay.js';
import { startFixture } from '../fileserver/fixture.js';
import { makeBusyboxRootfs, HAVE_RUNTIME, collectRun } from '../worker/fixtures.js';
import { publishTree } from '../worker/publish.js';
import { startWorker, type Worker } from '../../ts/worker/index.js';
import { WorkerClient } from '../../ts/worker/client.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';

const skip = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';
const FILES = 20;

/** Text that compresses well but differs per file (distinct blobs). */
function pyLike(i: number, bytes: number): Buffer {
  const line = `def handler_${i}(request, *args, **kwargs):  # module ${i}\n    return request.process(args, kwargs)\n`;
  return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
}

async function countFiles(dir: string, suffix: string): Promise<number> {
  let n = 0;
  for (const a of await readdir(dir).catch(() => [] as string[])) {
    for (const b of await readdir(join(dir, a)).catch(() => [] as string[])) {
      n += (await readdir(join(dir, a, b)).catch(() => [] as string[])).filter((f) => f.endsWith(suffix)).length;
    }
  }
  return n;
}

test('after a first run, a cold run takes gzip copies: the same verified bytes, far fewer on the link', { skip, timeout: 300_000 }, async (t) => {
  const fx = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-gzip-wire-');
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  await mkdir(join(rootfs, 'data'));
  const all = createHash('sha256');
  let contentBytes = 0;
  for (let i = 0; i < FILES; i++) {
    const content = pyLike(i, 30_000 + i * 1000);
    all.update(content);
    contentBytes += content.length;
    await writeFile(join(rootfs, 'data', `m${String(i).padStart(2, '0')}.py`), content);
  }
  const expected = all.digest('hex');
  await publishTree(fx.alice, rootfs, 'alice/py:latest', { workingDir: '/' });

  // Between worker and fileserver: counts the bytes coming back.
  const relay = await startCountingRelay(t, fx.server.url);

  const workerDir = join(dir, 'worker');
  let worker: Worker | undefined;
  let client: WorkerClient | undefined;
  const stop = async () => { await client?.close(); await worker?.close(); client = undefined; worker = undefined; };
  t.after(stop);
  const coldStart = async (acceptGzip: boolean) => {
    await stop();
    await rm(join(workerDir, 'cache'), { recursive: true, force: true });
    await rm(join(workerDir, 'manifests'), { recursive: true, force: true });
    worker = await startWorker({ dataDir: workerDir, host: '127.0.0.1', port: 0, fileserverUrl: relay.url, token: fx.tokens.worker, caFile: fx.server.caCertPath, acceptGzip, log: () => {} });
    client = new WorkerClient({ url: worker.url, token: fx.tokens.alice, caFile: worker.caCertPath });
  };
  // Bytes back from the fileserver from a cold start to the end of a run that reads every
  // data file (the manifest, the profile and busybox too: compare runs, not absolutes).
  const coldRun = async (acceptGzip: boolean) => {
    const before = relay.bytesDown;
    await coldStart(acceptGzip);
    const r = await collectRun(client!, { image: 'alice/py:latest', command: ['sh', '-c', 'sleep 1; cat /data/* | sha256sum'] });
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.stdout.split(/\s+/)[0], expected, 'the container read the right bytes');
    return relay.bytesDown - before;
  };

  const first = await coldRun(true);
  assert.ok(first > contentBytes, `the first run fetched plain blobs (${first} bytes on the link for ${contentBytes})`);
  // The fileserver compresses them in the background; wait for the copies, bounded.
  const gzDir = join(fx.dataDir, 'blobs-gz');
  for (let i = 0; i < 200 && await countFiles(gzDir, '.gz') < FILES; i++) await sleep(50);
  assert.equal(await countFiles(gzDir, '.gz'), FILES, 'a gzip copy of every data file');
  await sleep(500); // the profile is stored after the run, in the background

  const plain = await coldRun(false);
  const gzipped = await coldRun(true);
  // Everything else (manifest, profile, busybox in byte ranges) is the same in both runs.
  assert.ok(plain - gzipped > 0.75 * contentBytes, `gzip saved ${plain - gzipped} bytes of ${contentBytes} (${plain} plain, ${gzipped} with gzip)`);
});
