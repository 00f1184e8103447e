// Preloading at worker start, with a real fileserver (TLS, SQLite) and a real worker (FUSE
// mount, runc): a restarted worker loads the images it used last from their stored
// manifests, most recent first and no more than asked, before any run and without asking
// the fileserver for a manifest; a run of a preloaded image then succeeds without a
// manifest fetch; with preloading off, nothing is loaded until a run asks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir } from '../helpers/tmp.js';
import { startFixture } from '../fileserver/fixture.js';
import { makeBusyboxRootfs, HAVE_RUNTIME, collectRun } from './fixtures.js';
import { publishTree } from './publish.js';
import { startWorker, type Worker } from '../../ts/worker/index.js';
import { WorkerClient } from '../../ts/worker/client.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';

const skip = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';

test('a restarted worker preloads the images it used last, most recent first, without fetching their manifests', { skip, timeout: 300_000 }, async (t) => {
  const fx = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-preload-');
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  const older = await publishTree(fx.alice, rootfs, 'alice/older:latest', { workingDir: '/' });
  const newer = await publishTree(fx.alice, rootfs, 'alice/newer:latest', { workingDir: '/', env: ['WHICH=newer'] });
  assert.notEqual(older.id, newer.id, 'two distinct images');
  const workerDir = join(dir, 'worker');
  let worker: Worker | undefined;
  let client: WorkerClient | undefined;
  let logs: string[] = [];
  const stop = async () => { await client?.close(); await worker?.close(); client = undefined; worker = undefined; };
  t.after(stop);
  const start = async (preloadImages?: number) => {
    logs = [];
    worker = await startWorker({ dataDir: workerDir, host: '127.0.0.1', port: 0, fileserverUrl: fx.server.url, token: fx.tokens.worker, caFile: fx.server.caCertPath, preloadImages, log: (l) => logs.push(l) });
    client = new WorkerClient({ url: worker.url, token: fx.tokens.alice, caFile: worker.caCertPath });
  };
  const preloadLine = async () => {
    for (let i = 0; i < 200; i++) {
      const line = logs.find((l) => l.startsWith('images preloaded'));
      if (line) return line;
      await sleep(50);
    }
    assert.fail(`no "images preloaded" line in the worker log:\n${logs.join('\n')}`);
  };
  // Listed by a child process: this process serves the mount (deadlock rule).
  const loadedImages = async () => (await promisify(execFile)('ls', [worker!.mountpoint])).stdout.split('\n').filter((n) => /^[0-9a-f]{64}$/.test(n));
  const run = async (image: string) => {
    const r = await collectRun(client!, { image, command: ['sh', '-c', 'cat /etc/hostname >/dev/null; echo ok'] });
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
  };
  const manifestGets = () => fx.logs.filter((l) => l.startsWith('GET /v1/manifests/')).length;

  await start();
  assert.match(await preloadLine(), /^images preloaded: 0 /, 'nothing stored yet: nothing preloaded');
  await run('alice/older:latest');
  await sleep(20); // mtimes of the stored manifests must differ
  await run('alice/newer:latest');
  await stop();

  // Room for one: only the image used last.
  await start(1);
  const line = await preloadLine();
  assert.match(line, /^images preloaded: 1 /);
  assert.ok(line.includes(newer.id.slice(0, 12)), `the newer image was preloaded: ${line}`);
  assert.deepEqual(await loadedImages(), [newer.id], 'the newer image is in the mount before any run, the older one is not');
  const gets = manifestGets();
  await run('alice/newer:latest');
  assert.equal(manifestGets(), gets, 'a run of a preloaded image fetches no manifest');
  await run('alice/older:latest'); // not preloaded: loaded on demand (from its stored manifest)
  assert.deepEqual((await loadedImages()).sort(), [newer.id, older.id].sort());
  await stop();

  // The default loads both; 0 loads none, and runs still load on demand.
  await start();
  assert.match(await preloadLine(), /^images preloaded: 2 /);
  assert.deepEqual((await loadedImages()).sort(), [newer.id, older.id].sort());
  await stop();
  await start(0);
  await sleep(300);
  assert.equal(logs.find((l) => l.startsWith('images preloaded')), undefined, 'preloading off: no preload line');
  assert.deepEqual(await loadedImages(), [], 'preloading off: no image loaded before a run');
  await run('alice/older:latest');
  assert.deepEqual(await loadedImages(), [older.id]);
});
