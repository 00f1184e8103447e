// What each run costs in connections to the fileserver, with a real fileserver (TLS,
// SQLite), a real worker (FUSE, runc) and a TCP proxy between them that counts the
// connections the worker opens. A run asks the fileserver with the user's token for the
// image name and the script (and to authenticate, when not cached); those ride on the worker's
// warm keep-alive connections, so runs after the first open (almost) no new connection,
// while each user's token still decides what they may use (bob cannot run alice's
// script through those shared connections).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { startCountingRelay } from '../helpers/tcp-relay.js';
import { startFixture } from '../fileserver/fixture.js';
import { makeBusyboxRootfs, HAVE_RUNTIME, collectRun } from './fixtures.js';
import { publishTree } from './publish.js';
import { startWorker } from '../../ts/worker/index.js';
import { WorkerClient } from '../../ts/worker/client.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';

const skip = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';
const RUNS = 6;

test('runs reuse the worker\'s connections to the fileserver for requests made with the user\'s token', { skip, timeout: 300_000 }, async (t) => {
  const fx = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-conns-');
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  await publishTree(fx.alice, rootfs, 'alice/sh:latest', { workingDir: '/', cmd: ['sh'] });
  const scriptHash = await fx.alice.uploadScript(Buffer.from('echo "script ran"\n'));

  const relay = await startCountingRelay(t, fx.server.url);

  const worker = await startWorker({ dataDir: join(dir, 'worker'), host: '127.0.0.1', port: 0, fileserverUrl: relay.url, token: fx.tokens.worker, caFile: fx.server.caCertPath, log: () => {} });
  const alice = new WorkerClient({ url: worker.url, token: fx.tokens.alice, caFile: worker.caCertPath });
  const bob = new WorkerClient({ url: worker.url, token: fx.tokens.bob, caFile: worker.caCertPath });
  t.after(async () => { await alice.close(); await bob.close(); await worker.close(); });

  const run = async () => {
    const r = await collectRun(alice, { image: 'alice/sh:latest', script: { hash: scriptHash, name: 'job.sh' } });
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.stdout, 'script ran\n');
  };
  await run(); // loads the image, fetches its files: connections open here
  const before = relay.connections;
  for (let i = 0; i < RUNS; i++) await run();
  // Not 0: the fileserver may close an idle connection between runs, and a profile upload
  // may overlap a run; the point is that no run opens its own connections any more.
  assert.ok(relay.connections - before <= 2, `${RUNS} runs opened ${relay.connections - before} new connections (a client per user request opened 2 per run: image name and script)`);

  // Shared connections, separate tokens: bob's run of alice's image and script is refused.
  const denied = await collectRun(bob, { image: 'alice/sh:latest', script: { hash: scriptHash, name: 'job.sh' } }).catch((err: Error) => ({ error: err }));
  assert.ok('error' in denied && /not found|unknown image|denied|forbidden/i.test(String((denied as { error: unknown }).error)), `bob was refused: ${JSON.stringify(denied)}`);
});
