// Under systemd the worker gets NOTIFY_SOCKET (Type=notify, NotifyAccess=all). It is the
// worker's alone: runc, given it, bind-mounts a relay socket into the container and
// forwards the container's READY=1 with MAINPID=<container init>, so a container could
// name the service's main pid. Here the notify socket is the test's own (python3 reads
// it); the worker must report READY=1 with its own pid, and the container must see
// neither the variable nor a socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSway, startCommand } from '../helpers/cli.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { publishTree } from '../worker/publish.js';
import { CLUSTER_SKIP, startCluster } from './cluster.js';

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    msg = s.recv(4096).decode()
    print("got " + msg.replace("\\n", " "), flush=True)
`;

test('NOTIFY_SOCKET reaches neither runc nor the container; the worker reports READY=1 with its own pid', { skip: CLUSTER_SKIP, timeout: 600_000 }, async (t) => {
  if (spawnSync('python3', ['-c', 'pass']).status !== 0) { t.skip('python3 is not installed'); return; }
  // The socket lives outside the cluster's directory (which goes first on cleanup).
  const socketPath = `/tmp/sway-notify-${process.pid}-${Date.now()}.sock`;
  const listener = startCommand('python3', ['-c', LISTENER, socketPath]);
  t.after(async () => { await listener.stop(); spawnSync('rm', ['-f', socketPath]); });
  await listener.waitForOutput(/bound/);

  const cluster = await startCluster(t, { env: { NOTIFY_SOCKET: socketPath } });
  const state = JSON.parse(readFileSync(join(cluster.home, 'state.json'), 'utf8')) as { fileserver: { pid: number }; worker: { pid: number } };
  await listener.waitForOutput(new RegExp(`got READY=1 .*MAINPID=${state.worker.pid}`), 120_000);

  const token = (JSON.parse(readFileSync(cluster.env.SWAY_CONFIG!, 'utf8')) as { token: string }).token;
  const client = new FileserverClient({ url: cluster.fileserverUrl, token, caFile: cluster.ca });
  t.after(() => client.close());
  await publishTree(client, cluster.rootfs, 'owner/bb:latest', { workingDir: '/app' });
  const probe = 'echo "env:${NOTIFY_SOCKET-unset}"; ls -a /run/notify 2>/dev/null | sed "s/^/run-notify:/"; echo probe-done';
  const r = await runSway(['run', '--image', 'bb', '--', 'sh', '-c', probe], { cwd: cluster.dir, env: cluster.env, timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /probe-done\n$/);
  assert.match(r.stdout, /^env:unset$/m, 'the container has no NOTIFY_SOCKET');
  assert.doesNotMatch(r.stdout, /run-notify:/, 'runc mounted a notify socket into the container');

  // Everything the socket got came from the two daemons, about themselves.
  const pids = new Set([state.fileserver.pid, state.worker.pid].map(String));
  // (BARRIER=1: systemd-notify waits for systemd to have read its message.)
  const got = listener.stdout().split('\n').filter((l) => l.startsWith('got ') && l.trim() !== 'got BARRIER=1');
  assert.ok(got.length >= 1);
  for (const line of got) {
    const mainPid = /MAINPID=(\d+)/.exec(line)?.[1];
    assert.ok(mainPid && pids.has(mainPid), `a notification not from a daemon about itself: ${line}`);
  }
});
