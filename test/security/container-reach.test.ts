// What a container on the production worker (sway up: real fileserver, FUSE mount, runc)
// can reach (issue 6, "Isolation and access", inside a container): no file of its root
// holds the user's or the worker's token, its environment holds neither, the worker's
// data, cache and token directories are not reachable; a fork bomb stays inside its pids
// limit while a neighbouring run finishes normally, and leaves no process behind. A
// marker file planted in the image shows that the search does search.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runSway } from '../helpers/cli.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { WorkerClient } from '../../ts/worker/client.js';
import { publishTree } from '../worker/publish.js';
import { CLUSTER_SKIP, startCluster } from './cluster.js';

/** Processes whose cgroup path names this run (the worker puts a run under /sway/<run id>). */
function processesOfRun(runId: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/sway/${runId}`)) found.push(pid);
    } catch { /* exited meanwhile */ }
  }
  return found;
}

test('in a production container: no token in its files or environment, no worker directory, a fork bomb stays in its limits', { skip: CLUSTER_SKIP, timeout: 600_000 }, async (t) => {
  const cluster = await startCluster(t);
  const { dir, home, env } = cluster;
  const closers: (() => Promise<void>)[] = [];
  t.after(async () => { for (const close of closers) await close(); });
  const config = { fileserver: cluster.fileserverUrl, worker: cluster.workerUrl, ca: cluster.ca, token: (JSON.parse(readFileSync(env.SWAY_CONFIG!, 'utf8')) as { token: string }).token };
  const workerToken = cluster.workerToken;
  assert.ok(config.token.length >= 16 && workerToken.length >= 16);

  const rootfs = cluster.rootfs;
  const marker = `marker-${Math.random().toString(36).slice(2)}`;
  await writeFile(join(rootfs, 'etc', 'marker'), `${marker}\n`);
  const client = new FileserverClient({ url: config.fileserver, token: config.token, caFile: config.ca });
  closers.push(() => client.close());
  await publishTree(client, rootfs, 'owner/bb:latest', { workingDir: '/app' });

  // Every regular file of the container's root (its own mount only: not /proc or /sys),
  // searched for the marker and both tokens; then the environment and the worker's paths.
  const probe = [
    'bb=/bin/busybox',
    `for needle in ${marker} ${config.token} ${workerToken}; do`,
    '  $bb find / -xdev -type f -exec $bb grep -l -F -e "$needle" {} + 2>/dev/null | $bb sed "s/^/found:/"',
    'done',
    `$bb tr '\\0' '\\n' < /proc/self/environ | $bb grep -F -e '${config.token}' -e '${workerToken}' >/dev/null && echo env-has-token`,
    `for p in ${home} ${join(home, 'worker')} ${join(home, 'tokens')} ${join(home, 'worker', 'cache')}; do test -e "$p" && echo "reaches:$p"; done`,
    'echo probe-done',
  ].join('\n');
  const reach = await runSway(['run', '--image', 'bb', '--', 'sh', '-c', probe], { cwd: dir, env, timeoutMs: 180_000 });
  assert.equal(reach.code, 0, reach.stderr);
  assert.match(reach.stdout, /probe-done\n$/);
  assert.deepEqual(reach.stdout.split('\n').filter((l) => l.startsWith('found:')), ['found:/etc/marker'], 'the search finds the planted marker and no token');
  assert.doesNotMatch(reach.stdout, /env-has-token/);
  assert.doesNotMatch(reach.stdout, /reaches:/);

  // A fork bomb under a pids limit, with a neighbour started beside it. The bomb runs
  // in a subshell so that its collapse (forks fail with EAGAIN) leaves the run going.
  const worker = new WorkerClient({ url: config.worker, token: config.token, caFile: config.ca });
  closers.push(() => worker.close());
  let bombOut = '', bombErr = '';
  const bombScript = 'echo bombing; ( b() { b | b & }; b ); i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo bomb-shell-alive';
  const bomb = worker.run({ image: 'bb', command: ['sh', '-c', bombScript], limits: { pids: 40, timeoutSec: 120 } }, {
    onStdout: (b) => { bombOut += b.toString(); }, onStderr: (b) => { bombErr += b.toString(); },
  });
  const neighbour = await runSway(['run', '--image', 'bb', '--', 'sh', '-c', 'for i in $(seq 1 20); do seq 1 5 | wc -l; sleep 0.1; done'], { cwd: dir, env, timeoutMs: 120_000 });
  assert.equal(neighbour.code, 0, neighbour.stderr);
  assert.equal(neighbour.stdout, '5\n'.repeat(20));
  const bombed = await bomb;
  assert.match(bombErr, /can't fork/, 'the bomb ran into its pids limit');
  assert.equal(bombOut, 'bombing\nbomb-shell-alive\n');
  assert.equal(bombed.exit, 0);
  assert.deepEqual(processesOfRun(bombed.runId), [], 'no process of the bomb outlives its run');
  const after = await runSway(['run', '--image', 'bb', '--', 'echo', 'still-fine'], { cwd: dir, env, timeoutMs: 120_000 });
  assert.equal(after.code, 0, after.stderr);
  assert.equal(after.stdout, 'still-fine\n');
});
