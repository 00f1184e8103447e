// The shared test helpers: temp dirs go away with whatever is mounted in them, and the
// CLI runner isolates the environment and kills a command's whole process group on timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTempDir, mountsUnder, removeTempDir } from '../helpers/tmp.js';
import { runCommand, runSway, startCommand } from '../helpers/cli.js';

test('makeTempDir is removed after the test that made it', async (t) => {
  let dir = '';
  await t.test('inner', async (inner) => {
    dir = await makeTempDir(inner, 'sway-helpers-');
    writeFileSync(join(dir, 'file'), 'x');
    assert.ok(existsSync(dir));
  });
  assert.ok(dir.length > 0);
  assert.equal(existsSync(dir), false, `${dir} should be gone after its test`);
});

test('removeTempDir detaches mounts under the directory first', { skip: process.getuid?.() !== 0 ? 'needs root (mount)' : false }, async (t) => {
  const dir = await makeTempDir(t, 'sway-helpers-');
  const mountPoint = join(dir, 'nested', 'with space');
  mkdirSync(mountPoint, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'sway-test', mountPoint], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, mounted.stderr);
  writeFileSync(join(mountPoint, 'inside'), 'y');
  assert.deepEqual(mountsUnder(dir), [mountPoint]);
  await removeTempDir(dir);
  assert.equal(existsSync(dir), false);
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), false, 'the tmpfs is unmounted');
});

test('runSway runs bin/sway.js with no SWAY_* settings of the caller', async () => {
  process.env.SWAY_TOKEN = 'must-not-leak';
  try {
    const r = await runSway(['--version'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
    const env = await runCommand(process.execPath, ['-e', 'console.log(JSON.stringify(process.env))'], { env: { SWAY_USERNAME: 'given' } });
    const childEnv = JSON.parse(env.stdout) as Record<string, string>;
    assert.equal(childEnv.SWAY_TOKEN, undefined);
    assert.equal(childEnv.SWAY_USERNAME, 'given');
    assert.match(childEnv.SWAY_CONFIG ?? '', /^\/nonexistent\//);
  } finally {
    delete process.env.SWAY_TOKEN;
  }
});

test('a command that times out is killed with everything it started', async () => {
  // The shell starts a grandchild sleeper and reports its pid; both must die.
  const r = await runCommand('sh', ['-c', 'sleep 300 & echo $!; wait'], { timeoutMs: 1000 });
  assert.equal(r.timedOut, true);
  const grandchild = Number(r.stdout.trim());
  assert.ok(grandchild > 0, `no pid printed: ${r.stdout}`);
  // SIGTERM went to the whole group; give the kernel a moment to reap (bounded).
  for (let i = 0; i < 50 && alive(grandchild); i++) await new Promise((res) => setTimeout(res, 100));
  assert.equal(alive(grandchild), false, 'the grandchild was killed with its group');
});

test('startCommand: waitForOutput sees output, stop() ends the process', async () => {
  const p = startCommand('sh', ['-c', 'echo ready; exec sleep 300']);
  await p.waitForOutput(/ready/, 30_000);
  const status = await p.stop(2000);
  assert.equal(status.signal, 'SIGTERM');
  await assert.rejects(startCommand('sh', ['-c', 'exit 3']).waitForOutput(/never/, 30_000), /exited before printing/);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is dead for our purpose.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
