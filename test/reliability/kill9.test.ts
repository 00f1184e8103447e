// kill -9 of the worker, 50 times, while containers read (real fileserver, real `sway
// worker` with a cache cap small enough that blobs keep being fetched and evicted, FUSE,
// runc). After each kill, before the restart:
// - no process of a container is stuck in uninterruptible sleep (D) on the dead mount;
// - the disk cache, opened and verified by the worker's own code (DiskCache), holds no
//   entry whose content does not match its hash.
// After each restart:
// - no container is left running, no overlay or stray mount under the worker's data
//   directory (/proc/mounts: only the new FUSE mount), and the new worker accepts a run
//   at once (the very first request succeeds).
// Every line a reader printed before its worker died names the right hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startCluster, IMAGE, type WorkerProcess } from './harness.js';
import { HAVE_RUNTIME } from '../worker/fixtures.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';
import { DiskCache } from '../../ts/worker/fuse/disk-cache.js';
import { Runtime } from '../../ts/worker/runc.js';
import { cgroupDirsOf } from '../../ts/worker/cgroups.js';

const skip = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';
const KILLS = 50;
const READERS = 3;

/** Mount points under `dir` from /proc/mounts (octal escapes decoded). */
function mountsIn(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(dir + '/'));
}

/** Pids of the processes in a run's cgroups (any hierarchy). */
function pidsOfRun(runId: string): number[] {
  const pids = new Set<number>();
  for (const dir of cgroupDirsOf(runId)) {
    try { for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p)); } catch { /* absent */ }
  }
  return [...pids];
}

function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch { return undefined; }
}

test(`kill -9 of the worker ${KILLS} times while containers read: cache verified, nothing left behind, next start serves at once`, { skip, timeout: 900_000 }, async (t) => {
  // ~1.3 MB of small files and a 1 MB one against a 1.5 MB cap: fetches and evictions never stop.
  const c = await startCluster(t, { dataFiles: 60, bigBytes: 1024 * 1024, workerArgs: ['--cache-max-gb', String(1.5 / 1024)] });
  const runtime = new Runtime('runc', join(c.workerData, 'runc'));
  const cacheDir = join(c.workerData, 'cache');
  const byPath = new Map([...c.files, c.big].map((f) => [`/${f.rel}`, f.hash]));
  const list = [...byPath.keys()];
  const timing = { restart: 0, firstRun: 0, exit: 0, verify: 0 };
  const tStart = Date.now();
  let worker: WorkerProcess = await c.startWorker();
  const firstStartMs = Date.now() - tStart;
  let readsDone = 0, badLines = 0, tempFilesFound = 0, blobsVerified = 0, containersAtKill = 0, runsRefused = 0;
  const checkLine = (line: string) => {
    const [hash, path] = line.split(/\s+/);
    if (!path || !byPath.has(path)) return;
    if (byPath.get(path) === hash) readsDone++; else badLines++;
  };

  for (let i = 0; i < KILLS; i++) {
    // Readers, each going through the files in its own order, until the worker dies. The
    // worker just (re)started must accept each of them at once (a run id comes back).
    const client = c.client();
    const t1 = Date.now();
    const accepted: Promise<boolean>[] = [];
    for (let r = 0; r < READERS; r++) {
      const order = [...list].sort(() => Math.random() - 0.5).join(' ');
      let partial = '';
      accepted.push(new Promise<boolean>((resolve) => {
        client.run({ image: IMAGE, command: ['sh', '-c', `while true; do for f in ${order}; do sha256sum $f; done; done`] }, {
          onRunId: () => resolve(true),
          onStdout: (b) => {
            partial += b.toString();
            const lines = partial.split('\n');
            partial = lines.pop()!;
            lines.forEach(checkLine);
          },
        }).catch(() => resolve(false)); // after the kill: the connection dies with the worker
      }));
    }
    runsRefused += (await Promise.all(accepted)).filter((ok) => !ok).length;
    timing.firstRun += Date.now() - t1;
    // A random moment: before, during or after the containers start and fetch.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 1000));
    const t2 = Date.now();
    worker.kill9();
    await worker.exited;
    timing.exit += Date.now() - t2;

    // Nobody hangs on the dead mount: every container process leaves D within 2 s.
    const containers = await runtime.list();
    containersAtKill += containers.length;
    let stuck: string[] = [];
    for (let waited = 0; waited <= 2000; waited += 100) {
      stuck = containers.flatMap((id) => pidsOfRun(id).filter((p) => stateOf(p) === 'D').map((p) => `${id}:${p}`));
      if (stuck.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(stuck, [], `kill ${i + 1}: processes in uninterruptible sleep`);

    // The cache as the worker's own code sees it: no entry whose bytes do not match its name.
    const temps = (await readdir(cacheDir, { recursive: true }).catch(() => [] as string[])).filter((e) => e.includes('.tmp-'));
    tempFilesFound += temps.length;
    const t3 = Date.now();
    const cache = await DiskCache.open(cacheDir, 1024 ** 4);
    const verified = await cache.verify();
    blobsVerified += verified.checked;
    timing.verify += Date.now() - t3;
    assert.equal(verified.removed, 0, `kill ${i + 1}: ${verified.removed} cache entries do not match their hash`);

    const t0 = Date.now();
    worker = await c.startWorker();
    timing.restart += Date.now() - t0;
    assert.deepEqual(await runtime.list(), [], `restart ${i + 1}: no container left running`);
    const mounts = mountsIn(c.workerData);
    assert.deepEqual(mounts, [join(c.workerData, 'mnt')], `restart ${i + 1}: only the new FUSE mount`);
  }
  assert.equal(runsRefused, 0, 'every restarted worker accepted its runs at once');
  assert.equal(badLines, 0, 'no reader ever saw a wrong hash');
  assert.ok(readsDone > KILLS, `reads happened: ${readsDone}`);
  t.diagnostic(`first start ${firstStartMs} ms; ms per iteration: ${JSON.stringify(Object.fromEntries(Object.entries(timing).map(([k, v]) => [k, Math.round(v / KILLS)])))}`);
  t.diagnostic(`${KILLS} kill -9: 0 bad cache entries (${blobsVerified} verified), 0 stuck processes, 0 mounts or containers left (${containersAtKill} running at the kills), ${tempFilesFound} temp files found and removed, ${readsDone} reads done, 0 wrong`);
});
