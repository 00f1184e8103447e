// The systemd units in deploy/systemd/: `systemd-analyze verify` accepts them, and they
// keep the properties the daemons rely on (readiness by systemd-notify from a helper
// process; the worker's containers die with the worker, which its ExecStopPost ensures:
// run here against a fake cgroup tree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { makeTempDir, REPO_ROOT } from '../helpers/tmp.js';

const UNITS_DIR = join(REPO_ROOT, 'deploy', 'systemd');
const UNITS = ['sway-fileserver.service', 'sway-worker.service'];

const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

/** `Key=value` settings of a unit file's [Service] section. */
function serviceSettings(unit: string): Map<string, string> {
  const text = readFileSync(join(UNITS_DIR, unit), 'utf8');
  const section = text.split(/^\[/m).find((s) => s.startsWith('Service]')) ?? '';
  const settings = new Map<string, string>();
  for (const line of section.split('\n')) {
    const m = line.match(/^([A-Za-z]+)=(.*)$/);
    if (m) settings.set(m[1]!, m[2]!);
  }
  return settings;
}

test('systemd-analyze verify accepts both units', { skip: hasAnalyze ? false : 'systemd-analyze is not installed (scripts/setup.sh installs systemd)' }, () => {
  // verify checks that ExecStart's binary exists; setup.sh links /usr/local/bin/sway.
  const r = spawnSync('systemd-analyze', ['verify', ...UNITS.map((u) => join(UNITS_DIR, u))], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `systemd-analyze verify failed:\n${r.stdout}${r.stderr}`);
  // verify exits 0 on some warnings; any line naming our units is a problem.
  const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /sway-(fileserver|worker)\.service/.test(l));
  assert.deepEqual(complaints, []);
});

test('both daemons notify readiness from a helper process', () => {
  for (const unit of UNITS) {
    const s = serviceSettings(unit);
    assert.equal(s.get('Type'), 'notify', unit);
    assert.equal(s.get('NotifyAccess'), 'all', unit);
    assert.match(s.get('ExecStart') ?? '', /^\/usr\/local\/bin\/sway (fileserver|worker)\b/, unit);
  }
});

test('the worker unit kills its containers with it and survives their OOMs', () => {
  const s = serviceSettings('sway-worker.service');
  assert.equal(s.get('KillMode'), 'control-group');
  assert.equal(s.get('Delegate'), 'yes');
  assert.equal(s.get('OOMPolicy'), 'continue');
  // Options that would give the worker a private mount namespace or a device policy
  // would hide its FUSE mount or close /dev/fuse for the containers.
  for (const forbidden of ['PrivateTmp', 'PrivateDevices', 'ProtectSystem', 'ProtectHome', 'ProtectClock', 'DeviceAllow', 'PrivateMounts']) {
    assert.equal(s.has(forbidden), false, `sway-worker.service must not set ${forbidden}`);
  }
});

test('after the worker stops, its ExecStopPost kills every process in the /sway/<run> cgroups and nothing else', async (t) => {
  const line = serviceSettings('sway-worker.service').get('ExecStopPost') ?? '';
  const m = line.match(/^\/bin\/sh -c '(.*)'$/);
  assert.ok(m, `ExecStopPost is not a /bin/sh -c '...' line: ${line}`);
  const script = m[1]!.replace(/\$\$/g, '$'); // systemd turns $$ into a literal $
  // A fake cgroup tree: a v2-style run cgroup, a v1-style one (per controller), and an
  // unrelated cgroup whose process must survive.
  const root = await makeTempDir(t, 'sway-cgroups-');
  const sleepers = ['sway/run-a', 'memory/sway/run-b', 'memory/other'].map((dir) => {
    const child = spawn('sleep', ['300'], { stdio: 'ignore' });
    t.after(() => void child.kill('SIGKILL'));
    mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, dir, 'cgroup.procs'), `${child.pid}\n`);
    return child;
  });
  const exited = sleepers.map((c) => new Promise<NodeJS.Signals | null>((res) => c.on('exit', (_code, signal) => res(signal))));
  const r = spawnSync('/bin/sh', ['-c', script], { env: { ...process.env, SWAY_CGROUP_ROOT: root }, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await exited[0], 'SIGKILL', 'the v2-style run cgroup was emptied');
  assert.equal(await exited[1], 'SIGKILL', 'the v1-style run cgroup was emptied');
  assert.equal(sleepers[2]!.exitCode, null, 'a process outside /sway/ is untouched');
  assert.equal(sleepers[2]!.signalCode, null);
  // With no run cgroups at all it is a no-op that succeeds (a stop must never fail on it).
  const empty = await makeTempDir(t, 'sway-cgroups-empty-');
  assert.equal(spawnSync('/bin/sh', ['-c', script], { env: { ...process.env, SWAY_CGROUP_ROOT: empty } }).status, 0);
});
