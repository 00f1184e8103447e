// A worker killed with SIGKILL in the middle of a run leaves a running container, its
// overlay mount, its cgroup and its run directory; the next worker start on the same
// data directory removes all of them and accepts runs at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { removeTempDir, mountsUnder } from '../helpers/tmp.js';
import { makeBusyboxRootfs, HAVE_RUNTIME } from './fixtures.js';
import { WorkerClient } from '../../ts/worker/client.js';
import { Runtime } from '../../ts/worker/runc.js';
import { cgroupDirsOf } from '../../ts/worker/cgroups.js';
import { recoverLeftovers } from '../../ts/worker/recovery.js';

const skip = HAVE_RUNTIME ? false : 'needs root and /bin/busybox (busybox-static)';
const CHILD = new URL('./worker-child.js', import.meta.url).pathname;

function startChild(cfg: object): Promise<{ url: string; kill: () => void; exited: Promise<void> }> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`worker child exited ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      resolve({ url: (JSON.parse(line) as { url: string }).url, kill: () => child.kill('SIGKILL'), exited });
    });
  });
}

test('the next start removes what a killed worker left: container, overlay, cgroup, run dir', { skip, timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sway-recovery-'));
  const dataDir = join(dir, 'data');
  const runtime = new Runtime('runc', join(dataDir, 'runc'));
  const cleanups: (() => unknown)[] = [];
  // One hook, in order: clients and workers first, then any container, then the files.
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
    await recoverLeftovers(runtime, join(dataDir, 'runs'));
    await removeTempDir(dir);
  });
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  const cfg = { dataDir, rootfs, tlsDir: join(dir, 'tls') };

  const first = await startChild(cfg);
  const client = new WorkerClient({ url: first.url, token: 'alice-token', caFile: join(dir, 'tls', 'ca.pem') });
  cleanups.push(() => client.close());
  let runId = '';
  const started = new Promise<void>((resolve) => {
    void client.run({ image: 'busybox', command: ['sh', '-c', 'echo up; sleep 600'] }, {
      onRunId: (id) => { runId = id; },
      onStdout: () => resolve(),
    }).catch(() => { /* the connection dies with the worker */ });
  });
  await started;
  first.kill();
  await first.exited;

  assert.deepEqual(await runtime.list(), [runId], 'the container outlived its worker');
  assert.equal(mountsUnder(join(dataDir, 'runs')).length, 1, 'its overlay is still mounted');
  assert.ok(cgroupDirsOf(runId).some((d) => existsSync(d)), 'its cgroup exists');

  const second = await startChild(cfg);
  cleanups.push(async () => { second.kill(); await second.exited; });
  assert.deepEqual(await runtime.list(), []);
  assert.deepEqual(mountsUnder(join(dataDir, 'runs')), []);
  assert.deepEqual(readdirSync(join(dataDir, 'runs')), []);
  for (const d of cgroupDirsOf(runId)) assert.equal(existsSync(d), false, d);

  const client2 = new WorkerClient({ url: second.url, token: 'alice-token', caFile: join(dir, 'tls', 'ca.pem') });
  cleanups.push(() => client2.close());
  let out = '';
  const r = await client2.run({ image: 'busybox', command: ['echo', 'fresh'] }, { onStdout: (b) => { out += b.toString(); } });
  assert.equal(r.exit, 0);
  assert.equal(out, 'fresh\n');
});
