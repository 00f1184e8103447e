// End to end on one machine, through the real CLI: `sway up` starts a real fileserver and
// a real worker (FUSE mount, runc); an image is published to the fileserver; `sway run`
// uploads scripts and streams their output; errors are one line and exit 125;
// `sway down` stops both and leaves no mount behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { removeTempDir, mountsUnder } from '../helpers/tmp.js';
import { runSway, startSway } from '../helpers/cli.js';
import { Runtime } from '../../ts/worker/runc.js';
import { addUser } from '../../ts/fileserver/index.js';
import { makeBusyboxRootfs, HAVE_RUNTIME } from './fixtures.js';
import { publishTree } from './publish.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';
import { WorkerClient } from '../../ts/worker/client.js';

const skip = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';

/** Wait until a process (not our child) has exited: poll its existence. */
async function waitForExit(pid: number): Promise<void> {
  for (;;) {
    try { process.kill(pid, 0); } catch { return; }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('sway up, publish, sway run (script, edit, command, errors), sway down', { skip, timeout: 600_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sway-e2e-'));
  const home = join(dir, 'home');
  const env = { SWAY_CONFIG: join(dir, 'config.json') };
  const down = async () => runSway(['down', '--home', home], { env, timeoutMs: 120_000 });
  const closers: (() => Promise<void>)[] = [];
  // One hook, in order: clients, the daemons (`sway down` unmounts), then the files.
  t.after(async () => {
    for (const c of closers) await c();
    await down();
    await removeTempDir(dir);
  });

  const up = await runSway(['up', '--home', home, '--user', 'alice', '--fileserver-port', '0', '--worker-port', '0'], { env, timeoutMs: 180_000 });
  assert.equal(up.code, 0, up.stderr + up.stdout);
  assert.match(up.stdout, /sway is up: fileserver https:\/\/127\.0\.0\.1:\d+, worker https:\/\/127\.0\.0\.1:\d+/);
  const config = JSON.parse(readFileSync(env.SWAY_CONFIG, 'utf8')) as { fileserver: string; worker: string; token: string; ca: string; username: string };
  assert.equal(config.username, 'alice');

  const again = await runSway(['up', '--home', home], { env });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already up/);

  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  const client = new FileserverClient({ url: config.fileserver, token: config.token, caFile: config.ca });
  closers.push(() => client.close());
  const image = await publishTree(client, rootfs, 'alice/bb:latest', { workingDir: '/app', cmd: ['sh', 'main.sh'], env: ['GREETING=hi'] });
  assert.equal(image.name, 'alice/bb:latest');

  const project = join(dir, 'project');
  await mkdir(join(project, '.sway'), { recursive: true });
  await writeFile(join(project, '.sway', 'image'), JSON.stringify({ image: 'alice/bb:latest', id: image.id }));
  await writeFile(join(project, 'main.sh'), 'echo "$GREETING $* from $(pwd)"\necho to-stderr >&2\nexit 3\n');
  const first = await runSway(['run', 'main.sh', 'world', '--not-a-sway-option'], { cwd: project, env });
  assert.equal(first.stdout, 'hi world --not-a-sway-option from /app\n', 'what follows the script is the script\'s');
  assert.equal(first.stderr, 'to-stderr\n');
  assert.equal(first.code, 3);

  await writeFile(join(project, 'main.sh'), 'echo edited; cat /etc/passwd | head -n 1\n');
  const edited = await runSway(['run', 'main.sh'], { cwd: project, env });
  assert.equal(edited.code, 0, edited.stderr);
  assert.equal(edited.stdout, 'edited\nroot:x:0:0:root:/root:/bin/sh\n');

  // A script over 1 MiB does not travel inside the request: uploaded, then fetched by the worker.
  await writeFile(join(project, 'big.sh'), 'echo big-ok\n' + `#${'y'.repeat(1023)}\n`.repeat(1100));
  const big = await runSway(['run', 'big.sh'], { cwd: project, env });
  assert.equal(big.code, 0, big.stderr);
  assert.equal(big.stdout, 'big-ok\n');

  const command = await runSway(['run', '--image', 'bb', '--', 'sh', '-c', 'ls /app; echo $HOME'], { cwd: dir, env });
  assert.equal(command.code, 0, command.stderr);
  assert.equal(command.stdout, '/root\n', 'the script of an earlier run is not visible');

  // The production worker holds /dev/fuse, cache files and sockets: none reaches a container.
  const fds = await runSway(['run', '--image', 'bb', '--', 'sh', '-c', 'ls /proc/$$/fd; test -e /dev/fuse && echo has-fuse; true'], { cwd: dir, env });
  assert.equal(fds.stdout, '0\n1\n2\n', fds.stderr);

  // The run log has the runs, with their statuses, for this user.
  const worker = new WorkerClient({ url: config.worker, token: config.token, caFile: config.ca });
  closers.push(() => worker.close());
  const listed = await worker.http.json<{ runs: { user: string; exitStatus: number | null; state: string; script: string | null }[] }>('/v1/runs');
  assert.equal(listed.runs.length, 5);
  const withFigures = listed.runs.filter((r) => (r as unknown as { serverFetches: number }).serverFetches > 0);
  assert.ok(withFigures.length >= 1, 'the first run fetched blobs from the fileserver, and the log says so');
  assert.ok(listed.runs.every((r) => r.user === 'alice' && r.state === 'exited'));
  assert.deepEqual(listed.runs.map((r) => r.exitStatus).sort(), [0, 0, 0, 0, 3]);

  // Errors a user can act on: one line, exit 125.
  const cases: [string[], RegExp, string][] = [
    [['run', 'missing.sh'], /script missing\.sh cannot be read: no such file/, project],
    [['run', 'main.sh'], /no image exported for/, dir],
    [['run', '--image', 'nope', '--', 'true'], /unknown image/, dir],
  ];
  for (const [args, re, cwd] of cases) {
    const r = await runSway(args, { cwd, env });
    assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const badToken = await runSway(['run', '--image', 'bb', '--', 'true'], { cwd: dir, env: { ...env, SWAY_TOKEN: 'not-a-token' } });
  assert.equal(badToken.code, 125);
  assert.match(badToken.stderr, /token/i);
  const unreachable = await runSway(['run', '--image', 'bb', '--', 'true'], { cwd: dir, env: { ...env, SWAY_WORKER: 'https://127.0.0.1:1' } });
  assert.equal(unreachable.code, 125);
  assert.match(unreachable.stderr, /worker unreachable/);

  // 8 concurrent runs through the FUSE mount, each writing and printing its own token.
  const tokenScript = await client.uploadScript(Buffer.from('echo "$1" > /tmp/t; cat /tmp/t\n'));
  const tokens = Array.from({ length: 8 }, (_, i) => `tok-${i}-${Math.random().toString(36).slice(2)}`);
  const outs = await Promise.all(tokens.map(async (tok) => {
    let out = '';
    const r = await worker.run({ image: 'bb', script: { hash: tokenScript, name: 't.sh' }, args: [tok] }, { onStdout: (b) => { out += b.toString(); } });
    return { exit: r.exit, out };
  }));
  outs.forEach((o, i) => { assert.equal(o.exit, 0); assert.equal(o.out, `${tokens[i]}\n`); });

  // Another user reaches neither alice's image (by name or id), nor her script, nor her runs.
  const bobToken = addUser(join(home, 'fileserver'), 'bob', 'user');
  const bobEnv = { ...env, SWAY_TOKEN: bobToken };
  for (const ref of ['alice/bb:latest', image.id]) {
    const r = await runSway(['run', '--image', ref, '--', 'true'], { cwd: dir, env: bobEnv });
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /unknown image/);
  }
  // The worker's own token reads every image, so it must not start runs.
  const workerToken = readFileSync(join(home, 'tokens', 'worker'), 'utf8').trim();
  const asWorker = await runSway(['run', '--image', 'alice/bb:latest', '--', 'true'], { cwd: dir, env: { ...env, SWAY_TOKEN: workerToken } });
  assert.equal(asWorker.code, 125, asWorker.stderr);
  assert.match(asWorker.stderr, /worker token cannot start runs/);
  const bob = new WorkerClient({ url: config.worker, token: bobToken, caFile: config.ca });
  closers.push(() => bob.close());
  const aliceScript = await client.uploadScript(Buffer.from('echo alice-secret\n'));
  const bobFiles = new FileserverClient({ url: config.fileserver, token: bobToken, caFile: config.ca });
  closers.push(() => bobFiles.close());
  const bobImage = await publishTree(bobFiles, rootfs, 'bob/bb:latest', { workingDir: '/app' });
  await assert.rejects(bob.run({ image: bobImage.name, script: { hash: aliceScript, name: 'x.sh' } }), /script .* not found/);
  const bobRuns = await bob.http.json<{ runs: { user: string }[] }>('/v1/runs');
  assert.ok(bobRuns.runs.every((r) => r.user === 'bob'), 'bob sees only his own runs');

  // Ctrl-C in `sway run` cancels the container: exit 130, one line.
  const cancelled = startSway(['run', '--image', 'bb', '--', 'sh', '-c', 'echo started; sleep 600'], { cwd: dir, env });
  closers.push(async () => { await cancelled.stop(); });
  await cancelled.waitForOutput(/started/, 120_000);
  cancelled.child.kill('SIGINT');
  const status = await cancelled.exited;
  assert.equal(status.code, 130, cancelled.stderr());
  assert.match(cancelled.stderr(), /cancelled; the container was stopped/);

  const workerMnt = join(home, 'worker', 'mnt');
  assert.ok(mountsUnder(home).includes(workerMnt), 'the worker has its FUSE mount while up');
  // The fileserver goes away: a script and a command that ran before still run (cached
  // blobs, the last validation of the token, the last resolution of the name, the script).
  const fileserverPid = (JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as { fileserver: { pid: number } }).fileserver.pid;
  process.kill(fileserverPid, 'SIGTERM');
  await waitForExit(fileserverPid);
  const duringOutage = await runSway(['run', 'main.sh'], { cwd: project, env });
  assert.equal(duringOutage.code, 0, duringOutage.stderr);
  assert.equal(duringOutage.stdout, 'edited\nroot:x:0:0:root:/root:/bin/sh\n');
  // A small script travels inside the run request, so a new one runs too (as a command does);
  // one over 1 MiB goes through the fileserver, and a new one of those cannot run without it.
  await writeFile(join(project, 'never-uploaded.sh'), 'echo new\n');
  const newScript = await runSway(['run', 'never-uploaded.sh'], { cwd: project, env });
  assert.equal(newScript.code, 0, newScript.stderr);
  assert.equal(newScript.stdout, 'new\n');
  await writeFile(join(project, 'big-never-uploaded.sh'), 'echo big\n' + `#${'x'.repeat(1023)}\n`.repeat(1100));
  const bigScript = await runSway(['run', 'big-never-uploaded.sh'], { cwd: project, env });
  assert.equal(bigScript.code, 125, 'a big script the worker never saw cannot run without the fileserver');
  assert.match(bigScript.stderr, /^sway: worker: fileserver unreachable/);

  // `sway down` while a run is going: the worker cancels it, removes its overlay, unmounts.
  const interrupted = startSway(['run', '--image', 'bb', '--', 'sh', '-c', 'echo started; sleep 600'], { cwd: dir, env });
  closers.push(async () => { await interrupted.stop(); });
  await interrupted.waitForOutput(/started/, 120_000);
  const stopped = await down();
  assert.equal(stopped.code, 0, stopped.stderr);
  const interruptedStatus = await interrupted.exited;
  assert.equal(interruptedStatus.code, 125, interrupted.stderr());
  assert.match(interrupted.stderr(), /^sway: worker: the worker is stopping: run \S+ was cancelled\n$/);
  assert.match(stopped.stdout, /sway is down/);
  assert.deepEqual(mountsUnder(home), [], 'the worker unmounted on the way down');
  assert.deepEqual(await new Runtime('runc', join(home, 'worker', 'runc')).list(), [], 'no container outlives the worker');

  // Up again: same data, manifest kept on disk by id, runs work at once.
  assert.ok(existsSync(join(home, 'worker', 'manifests', image.id)), 'the manifest is kept on disk by id');
  const upAgain = await runSway(['up', '--home', home, '--fileserver-port', '0', '--worker-port', '0'], { env, timeoutMs: 180_000 });
  assert.equal(upAgain.code, 0, upAgain.stderr);
  const afterRestart = await runSway(['run', 'main.sh'], { cwd: project, env });
  assert.equal(afterRestart.code, 0, afterRestart.stderr);
  assert.equal(afterRestart.stdout, 'edited\nroot:x:0:0:root:/root:/bin/sh\n');
});
