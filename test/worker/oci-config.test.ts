// Unit tests of what a run's config.json says: namespaces, capabilities, seccomp,
// masked/read-only paths, limits, rlimits against the host's, user resolution through
// passwd/group, the command chosen from CMD/ENTRYPOINT, and request validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSpec, DEFAULT_CAPABILITIES, type SpecInput } from '../../ts/worker/oci/spec.js';
import { defaultSeccompProfile } from '../../ts/worker/oci/seccomp.js';
import { resolveUser } from '../../ts/worker/oci/user.js';
import { hostHardLimits } from '../../ts/worker/oci/host-limits.js';
import { resolveArgs, buildEnv } from '../../ts/worker/run-command.js';
import { parseRunRequest, DEFAULT_LIMITS } from '../../ts/worker/run-request.js';
import { emptyImageConfig } from '../../ts/common/manifest.js';

function input(over: Partial<SpecInput> = {}): SpecInput {
  return {
    args: ['python3', '/app/app.py'], env: ['PATH=/bin'], cwd: '/app',
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' }, hostname: 'h',
    limits: { memoryMb: 256, pids: 100, cpus: 0.5 }, network: false, cgroupsPath: '/sway/x',
    hostLimits: new Map([['RLIMIT_NOFILE', 4096]]), ...over,
  };
}

test('namespaces: pid, ipc, uts, mount, cgroup and network; network dropped only when asked', () => {
  const types = buildSpec(input()).linux.namespaces.map((n) => n.type).sort();
  assert.deepEqual(types, ['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts']);
  const withNet = buildSpec(input({ network: true }));
  assert.equal(withNet.linux.namespaces.some((n) => n.type === 'network'), false);
  assert.ok(withNet.mounts.some((m) => m.destination === '/etc/resolv.conf' && m.options?.includes('ro')));
  assert.equal(buildSpec(input()).linux.namespaces.some((n) => n.type === 'user'), false);
});

test('capabilities are Docker\'s default set, nothing inheritable or ambient; noNewPrivileges; no terminal', () => {
  const s = buildSpec(input());
  const caps = s.process.capabilities;
  for (const set of ['bounding', 'effective', 'permitted']) assert.deepEqual([...caps[set]!].sort(), [...DEFAULT_CAPABILITIES].sort());
  assert.deepEqual(caps.inheritable, []);
  assert.deepEqual(caps.ambient, []);
  for (const dangerous of ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_NET_ADMIN', 'CAP_SYS_MODULE', 'CAP_DAC_READ_SEARCH']) {
    assert.equal(caps.bounding!.includes(dangerous), false, dangerous);
  }
  assert.equal(s.process.noNewPrivileges, true);
  assert.equal(s.process.terminal, false);
});

test('seccomp: the config carries the allowlist profile of seccomp.ts (tested in seccomp-profile.test.ts)', () => {
  assert.deepEqual(buildSpec(input()).linux.seccomp, defaultSeccompProfile());
});

test('masked and read-only paths cover Docker\'s; /sys and cgroups are read-only', () => {
  const s = buildSpec(input());
  for (const p of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware', '/proc/scsi']) assert.ok(s.linux.maskedPaths.includes(p), p);
  for (const p of ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus']) assert.ok(s.linux.readonlyPaths.includes(p), p);
  assert.ok(s.mounts.find((m) => m.destination === '/sys')!.options!.includes('ro'));
  assert.ok(s.mounts.find((m) => m.destination === '/sys/fs/cgroup')!.options!.includes('ro'));
  assert.equal(s.mounts.some((m) => m.type === 'bind' && m.source.includes('fuse')), false);
});

test('limits: memory without swap, pids, CPU quota; rlimits never above the host hard limit', () => {
  const s = buildSpec(input());
  assert.equal(s.linux.resources.memory.limit, 256 * 1024 * 1024);
  assert.equal(s.linux.resources.memory.swap, 256 * 1024 * 1024);
  assert.equal(s.linux.resources.pids.limit, 100);
  assert.deepEqual(s.linux.resources.cpu, { quota: 50_000, period: 100_000 });
  assert.equal(s.linux.cgroupsPath, '/sway/x');
  const nofile = s.process.rlimits.find((r) => r.type === 'RLIMIT_NOFILE')!;
  assert.equal(nofile.hard, 4096);
  assert.ok(nofile.soft <= nofile.hard);
  const host = hostHardLimits();
  const real = buildSpec(input({ hostLimits: host }));
  for (const r of real.process.rlimits) assert.ok(r.hard <= (host.get(r.type) ?? Infinity), r.type);
  assert.equal(hostHardLimits('Max open files            1024                 20000                files\n').get('RLIMIT_NOFILE'), 20000);
});

test('users resolve through the image\'s passwd and group', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n';
  const group = 'root:x:0:\napp:x:1001:\nstaff:x:50:app,other\nwheel:x:10:other\n';
  assert.deepEqual(resolveUser('', passwd, group), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  assert.deepEqual(resolveUser('app', passwd, group), { uid: 1000, gid: 1001, additionalGids: [50], home: '/home/app' });
  assert.deepEqual(resolveUser('1000', passwd, group), { uid: 1000, gid: 1001, additionalGids: [50], home: '/home/app' });
  assert.deepEqual(resolveUser('app:wheel', passwd, group), { uid: 1000, gid: 10, additionalGids: [], home: '/home/app' });
  assert.deepEqual(resolveUser('4242:4343', passwd, group), { uid: 4242, gid: 4343, additionalGids: [], home: '/' });
  assert.throws(() => resolveUser('nobody-here', passwd, group), /not in the image's \/etc\/passwd/);
  assert.throws(() => resolveUser('app:nogroup', passwd, group), /not in the image's \/etc\/group/);
  assert.deepEqual(resolveUser('', undefined, undefined).uid, 0);
});

test('the script runs with the image\'s interpreter at WORKDIR/name', () => {
  const c = { ...emptyImageConfig(), workingDir: '/app', cmd: ['python3', 'app.py'] };
  assert.deepEqual(resolveArgs(c, { scriptName: 'app.py', args: ['x'] }), ['python3', '/app/app.py', 'x']);
  assert.deepEqual(resolveArgs(c, { scriptName: 'other.py' }), ['python3', '/app/other.py']);
  assert.deepEqual(resolveArgs({ ...c, cmd: ['python3', '-u', 'app.py', '--flag'] }, { scriptName: 'app.py' }), ['python3', '-u', '/app/app.py']);
  assert.deepEqual(resolveArgs({ ...c, entrypoint: ['python3'], cmd: ['main.py'] }, { scriptName: 'app.py' }), ['python3', '/app/app.py']);
  assert.deepEqual(resolveArgs({ ...c, cmd: ['/bin/sh', '-c', 'python3 app.py'] }, { scriptName: 'app.py' }), ['python3', '/app/app.py']);
  assert.deepEqual(resolveArgs({ ...c, cmd: null }, { scriptName: 'run.sh' }), ['/app/run.sh']);
  assert.deepEqual(resolveArgs(c, { command: ['ls', '-l'], args: ['/'] }), ['ls', '-l', '/']);
  assert.deepEqual(buildEnv(['A=1', 'PATH=/x'], '/root', { B: '2', A: '3' }).sort(), ['A=3', 'B=2', 'HOME=/root', 'PATH=/x']);
});

test('run requests are validated and get default limits', () => {
  const hash = 'a'.repeat(64);
  const r = parseRunRequest({ image: 'alice/app', script: { hash, name: 'app.py' } });
  assert.deepEqual(r.limits, { ...DEFAULT_LIMITS });
  assert.equal(r.network, false);
  assert.throws(() => parseRunRequest({ image: 'x' }), /exactly one of script or command/);
  assert.throws(() => parseRunRequest({ image: 'x', command: ['a'], script: { hash, name: 'a' } }), /exactly one/);
  assert.throws(() => parseRunRequest({ image: 'x', script: { hash, name: '../etc/passwd' } }), /plain file name/);
  assert.throws(() => parseRunRequest({ image: 'x', script: { hash: 'nothex', name: 'a' } }), /sha256/);
  assert.throws(() => parseRunRequest({ image: 'x', command: ['a'], limits: { memoryMb: -1 } }), /limits.memoryMb/);
  assert.throws(() => parseRunRequest({ image: 'x', command: ['a'], env: { 'A=B': 'c' } }), /not a valid variable/);
  assert.equal(parseRunRequest({ image: 'x', command: ['a'], limits: { pids: 7.9 } }).limits.pids, 7);
});
