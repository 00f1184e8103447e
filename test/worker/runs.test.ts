// Real runc runs through the worker's HTTPS API on a busybox root filesystem with a
// directory-backed image provider: streams, exit and signal statuses, the overlay's
// isolation between runs, concurrency, cancellation, the timeout and cleanup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startTestWorker, collectRun, HAVE_RUNTIME, HAVE_RUNSC } from './fixtures.js';
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

test('writes land in the run\'s upper layer; a second run does not see them; keep leaves the upper dir', T, async (t) => {
  const w = await startTestWorker(t);
  const first = await collectRun(w.client(), { image: 'busybox', command: ['sh', '-c', 'echo secret > /etc/written && mkdir -p /new/dir && echo data > /new/dir/f && cat /etc/written'], keep: true });
  assert.equal(first.exit, 0, first.stderr);
  assert.equal(first.stdout, 'secret\n');
  assert.ok(first.keptUpper);
  assert.equal(existsSync(join(first.keptUpper!, 'etc', 'written')), true, 'the write is in the upper dir');
  assert.equal(existsSync(join(w.rootfs, 'etc', 'written')), false, 'the image is untouched');
  const second = await collectRun(w.client(), { image: 'busybox', command: ['sh', '-c', 'ls /etc/written /new 2>&1; echo status=$?'] });
  assert.match(second.stdout, /No such file or directory/);
  assert.match(second.stdout, /status=1/);
  // The kept run's directory holds only its upper layer; the other run left nothing.
  assert.deepEqual(readdirSync(w.server.runsDir), [first.runId]);
  assert.deepEqual(readdirSync(join(w.server.runsDir, first.runId)), ['upper']);
  assert.deepEqual(mountsUnder(w.server.runsDir), []);
});

test('8 concurrent runs each print only their own token', T, async (t) => {
  const w = await startTestWorker(t);
  const script = w.addScript('echo "$1" > /tmp/token\nsleep 0.2\ncat /tmp/token\n');
  const tokens = Array.from({ length: 8 }, (_, i) => `token-${i}-${Math.random().toString(36).slice(2)}`);
  const results = await Promise.all(tokens.map((tok) => collectRun(w.client(), { image: 'busybox', script: { hash: script.hash, name: 'main.sh' }, args: [tok] })));
  results.forEach((r, i) => {
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.stdout, `${tokens[i]}\n`);
  });
  assert.equal(new Set(results.map((r) => r.runId)).size, 8);
  assertNoLeftovers(w.server.runsDir, results.map((r) => r.runId));
});

test('cancelling the request kills the container and cleans up', T, async (t) => {
  const w = await startTestWorker(t);
  const abort = new AbortController();
  let runId = '';
  const client = w.client();
  const running = client.run({ image: 'busybox', command: ['sh', '-c', 'echo started; sleep 300'] }, {
    onRunId: (id) => { runId = id; },
    onStdout: (b) => { if (b.toString().includes('started')) abort.abort(); },
    signal: abort.signal,
  });
  await assert.rejects(running, (err: Error) => err.name === 'AbortError' || /abort/i.test(err.message));
  assert.ok(runId);
  // The worker notices the closed connection; wait for its cleanup through the server's close.
  await w.server.close();
  assertNoLeftovers(w.server.runsDir, [runId]);
  assert.deepEqual(await w.server.runtime.list(), []);
});

test('the wall-clock timeout kills the container: 128+9 and timedOut', T, async (t) => {
  const w = await startTestWorker(t);
  const r = await collectRun(w.client(), { image: 'busybox', command: ['sh', '-c', 'echo before; sleep 300'], limits: { timeoutSec: 1 } });
  assert.equal(r.stdout, 'before\n');
  assert.equal(r.timedOut, true);
  assert.equal(r.exit, 128 + 9);
  assertNoLeftovers(w.server.runsDir, [r.runId]);
});

test('a memory hog is killed inside its limit (128+9); the pids limit stops a fork storm', T, async (t) => {
  const w = await startTestWorker(t);
  const hog = await collectRun(w.client(), {
    image: 'busybox', limits: { memoryMb: 32 },
    command: ['sh', '-c', 'a=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived ${#a}'],
  });
  assert.notEqual(hog.exit, 0);
  assert.doesNotMatch(hog.stdout, /survived/);
  const forks = await collectRun(w.client(), {
    image: 'busybox', limits: { pids: 20 },
    command: ['sh', '-c', 'for i in $(seq 1 60); do sleep 30 & done; echo all-forked'],
  });
  assert.match(forks.stderr, /can't fork/);
  assert.doesNotMatch(forks.stdout, /all-forked/);
  // A neighbour run is unaffected.
  const after = await collectRun(w.client(), { image: 'busybox', command: ['echo', 'fine'] });
  assert.equal(after.stdout, 'fine\n');
});

test('the container is confined: no network but lo, mount/unshare refused, image user and groups applied', T, async (t) => {
  const w = await startTestWorker(t, {
    images: (rootfs) => ({
      busybox: { dir: rootfs, config: { workingDir: '/app' } },
      asapp: { dir: rootfs, config: { workingDir: '/home/app', user: 'app' } },
    }),
  });
  const net = await collectRun(w.client(), { image: 'busybox', command: ['sh', '-c', 'ls /sys/class/net'] });
  assert.equal(net.stdout.trim(), 'lo');
  const withNet = await collectRun(w.client(), { image: 'busybox', network: true, command: ['sh', '-c', 'ls /sys/class/net'] });
  assert.ok(withNet.stdout.trim().split('\n').length > 1, `network: true shows the host's interfaces: ${withNet.stdout}`);
  const mount = await collectRun(w.client(), { image: 'busybox', command: ['sh', '-c', 'mount -t tmpfs x /mnt 2>&1; echo mount=$?; unshare -U true 2>&1; echo unshare=$?'] });
  assert.match(mount.stdout, /mount=[1-9]/);
  assert.match(mount.stdout, /unshare=[1-9]/);
  const masked = await collectRun(w.client(), { image: 'busybox', command: ['sh', '-c', 'cat /proc/kcore | wc -c; echo 1 > /proc/sys/kernel/domainname; echo ro=$?'] });
  assert.match(masked.stdout, /^0\n/);
  assert.match(masked.stdout, /ro=[1-9]/);
  // Only the three stdio descriptors reach the container's process.
  const fds = await collectRun(w.client(), { image: 'busybox', command: ['sh', '-c', 'ls /proc/$$/fd; true'] }); // '; true': sh must not exec ls
  assert.equal(fds.stdout, '0\n1\n2\n', fds.stderr);
  const user = await collectRun(w.client(), { image: 'asapp', command: ['sh', '-c', 'id -u; id -G; echo $HOME; pwd; grep CapEff /proc/self/status'] });
  const lines = user.stdout.trim().split('\n');
  assert.equal(lines[0], '1000');
  assert.deepEqual(lines[1]!.split(' ').sort(), ['1000', '2000']);
  assert.equal(lines[2], '/home/app');
  assert.equal(lines[3], '/home/app');
  assert.match(lines[4]!, /CapEff:\s+0+$/);
});

test('with --runtime runsc the same run goes through gVisor: streams, status, cleanup', { skip: HAVE_RUNSC ? false : 'needs runsc (Debian package runsc)', timeout: 180_000 }, async (t) => {
  const w = await startTestWorker(t, { runtime: 'runsc' });
  const r = await collectRun(w.client(), { image: 'busybox', command: ['sh', '-c', 'dmesg | head -n 1; ls /sys/class/net; echo err >&2; exit 4'] });
  assert.match(r.stdout, /gVisor/);
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.exit, 4);
  assert.doesNotMatch(r.stdout, /eth|ens|veth/, 'no network interface but loopback');
  assertNoLeftovers(w.server.runsDir, [r.runId]);
  assert.deepEqual(await w.server.runtime.list(), []);
});

test('a missing runtime binary is one clear error, and the run leaves nothing behind', T, async (t) => {
  const w = await startTestWorker(t, { runtime: '/nonexistent/runc' });
  await assert.rejects(collectRun(w.client(), { image: 'busybox', command: ['true'] }), /cannot start the container runtime \/nonexistent\/runc: ENOENT/);
  await w.server.close();
  assertNoLeftovers(w.server.runsDir, []);
});

test('an image user missing from its /etc/passwd is one clear error once the overlay is already mounting, and the run leaves nothing behind', T, async (t) => {
  const w = await startTestWorker(t, { images: (rootfs) => ({ ghost: { dir: rootfs, config: { workingDir: '/app', user: 'ghost' } } }) });
  await assert.rejects(collectRun(w.client(), { image: 'ghost', command: ['true'] }), /image user "ghost" is not in the image's \/etc\/passwd/);
  await w.server.close();
  assertNoLeftovers(w.server.runsDir, []);
});

test('unknown image, bad token and bad request are answered before anything runs', T, async (t) => {
  const w = await startTestWorker(t);
  await assert.rejects(collectRun(w.client(), { image: 'nope', command: ['true'] }), (err: Error & { status?: number }) => err.status === 404 && /unknown image/.test(err.message));
  await assert.rejects(collectRun(w.client('wrong-token'), { image: 'busybox', command: ['true'] }), (err: Error & { status?: number }) => err.status === 401);
  await assert.rejects(collectRun(w.client(), { image: 'busybox' }), (err: Error & { status?: number }) => err.status === 400 && /exactly one of script or command/.test(err.message));
  await assert.rejects(collectRun(w.client(), { image: 'busybox', script: { hash: 'f'.repeat(64), name: 'x.sh' } }), /script .* not found/);
  assertNoLeftovers(w.server.runsDir, []);
});

test('a WORKDIR that is a symlink in the image stays one; the script lands in its real directory', T, async (t) => {
  const w = await startTestWorker(t, {
    images: (rootfs) => {
      mkdirSync(join(rootfs, 'srv', 'work'), { recursive: true });
      symlinkSync('/srv/work', join(rootfs, 'work'));
      return { linked: { dir: rootfs, config: { workingDir: '/work', cmd: ['sh', 'job.sh'] } } };
    },
  });
  const script = w.addScript('echo "in $(pwd)"; test -L /work && echo still-a-link; ls /srv/work\n');
  const r = await collectRun(w.client(), { image: 'linked', script: { hash: script.hash, name: 'job.sh' } });
  assert.equal(r.exit, 0, r.stderr);
  assert.equal(r.stdout, 'in /srv/work\nstill-a-link\njob.sh\n'); // pwd shows the physical directory, as under Docker
});
