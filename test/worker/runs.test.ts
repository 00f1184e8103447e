// Real runc runs through the worker's HTTPS API on a busybox root filesystem with a
// directory-backed image provider: streams, exit and signal statuses, the overlay's
// isolation between runs, concurrency, cancellation, the timeout and cleanup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startTestWorker, collectRun, HAVE_RUNTIME } from './fixtures.js';
import { mountsUnder } from '../helpers/tmp.js';
import { cgroupDirsOf } from '../../ts/worker/cgroups.js';

const skip = HAVE_RUNTIME ? false : 'needs root and /bin/busybox (busybox-static)';
const T = { skip, timeout: 180_000 };

function assertNoLeftovers(runsDir: string, runIds: string[]): void {
  assert.deepEqual(readdirSync(runsDir), [], 'run directories are removed');
  assert.deepEqual(mountsUnder(runsDir), [], 'no overlay stays mounted');
  for (const id of runIds) for (const d of cgroupDirsOf(id)) assert.equal(existsSync(d), false, `cgroup ${d} removed`);
}

test('a script runs with the image interpreter; stdout and stderr arrive separately; exit status returns', T, async (t) => {
  const w = await startTestWorker(t);
  const script = w.addScript('echo "out:$1:$(pwd):$(id -u)"\necho err-line >&2\nexit 3\n');
  const r = await collectRun(w.client(), { image: 'busybox', script: { hash: script.hash, name: 'main.sh' }, args: ['hello'] });
  assert.equal(r.stdout, 'out:hello:/app:0\n');
  assert.equal(r.stderr, 'err-line\n');
  assert.equal(r.exit, 3);
  assertNoLeftovers(w.server.runsDir, [r.runId]);
});

test('a command runs as given', T, async (t) => {
  const w = await startTestWorker(t);
  const ok = await collectRun(w.client(), { image: 'busybox', command: ['echo', 'plain'], args: ['words'] });
  assert.equal(ok.stdout, 'plain words\n');
  assert.equal(ok.exit, 0);
});
