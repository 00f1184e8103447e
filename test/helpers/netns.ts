// Two "hosts" for tests and benchmarks: a pair of network namespaces joined by a veth
// pair, with addresses of the test's own (10.231.X.1/30 on host a, 10.231.X.2/30 on
// host b) and no route anywhere else, so traffic only flows between those two addresses
// (and each namespace's own loopback).
//
//   const net = await createHostPair(t);               // destroyed in t.after(), even on failure
//   const server = net.spawn(net.b, 'node', ['server.js']);      // runs inside host b
//   const r = await net.exec(net.a, 'curl', [`https://${net.b.address}:8443/`]);
//   await net.shape({ rateMbit: 1000 });               // tbf on both directions
//   const proxy = await net.startDelayProxy(net.a, { targetHost: net.b.address, targetPort: 8443, delayMs: 0.5 });
//   const fs = net.spawnSway(net.b, ['fileserver', '--data', dir, '--host', net.b.address, '--san', net.b.address]);
//
// A server in one namespace is reached at its host's address, so its certificate must
// name that address (`--san`); 127.0.0.1 in the other namespace is that namespace's own.
//
// Commands enter only the network namespace (`nsenter --net=`), not a new mount
// namespace as `ip netns exec` would: a FUSE mount made by a worker "on host a" stays
// visible to the test and to its cleanup.
//
// Names carry the creating process's pid (`sway-<pid>-<n>-a`), so concurrent test files
// never collide, and namespaces left by a process that died are removed by the next
// createHostPair(). Needs root and iproute2.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, startCommand, SWAY_BIN, type RunningSway, type SwayResult, type SwayRunOptions } from './cli.js';
import { REPO_ROOT } from './tmp.js';

export interface NetnsHost {
  /** Namespace name, as in `ip netns list` (file /run/netns/<name>). */
  ns: string;
  /** This host's address on the veth link. */
  address: string;
  /** The link's interface name inside the namespace. */
  iface: string;
}

export interface ShapeOptions {
  /** Bandwidth of each direction, Mbit/s (tbf). */
  rateMbit: number;
  /** Queue limit as latency, ms (how long a packet may wait in tbf). Default 50. */
  queueMs?: number;
}

export interface HostPair {
  a: NetnsHost;
  b: NetnsHost;
  /** Run a command inside a host's namespace to completion (timeout, output, status). */
  exec(host: NetnsHost, command: string, args: string[], opts?: SwayRunOptions): Promise<SwayResult>;
  /** Start a long-running command inside a host's namespace; stopped by destroy(). */
  spawn(host: NetnsHost, command: string, args: string[], opts?: Omit<SwayRunOptions, 'timeoutMs' | 'input'>): RunningSway;
  /** `sway ARGS` inside a host's namespace, to completion (as runSway in cli.ts). */
  execSway(host: NetnsHost, args: string[], opts?: SwayRunOptions): Promise<SwayResult>;
  /** A long-running `sway ARGS` (a fileserver, a worker) inside a host's namespace. */
  spawnSway(host: NetnsHost, args: string[], opts?: Omit<SwayRunOptions, 'timeoutMs' | 'input'>): RunningSway;
  /** Limit the link's bandwidth in both directions with tc tbf. */
  shape(opts: ShapeOptions): Promise<void>;
  /** A delaying TCP proxy (delay-proxy.ts) listening on `host`'s address; stopped by destroy(). */
  startDelayProxy(host: NetnsHost, opts: { targetHost: string; targetPort: number; delayMs: number; listenPort?: number }): Promise<{ host: string; port: number; process: RunningSway }>;
  /** Stop what was spawned, kill anything left in the namespaces, delete them. Idempotent. */
  destroy(): Promise<void>;
}

const NETNS_DIR = '/run/netns';
const NAME_PATTERN = /^sway-(\d+)-(\d+)-[ab]$/;
const IFACE = 'veth0';
// Counted per process, not per module instance: an A/B benchmark loads this module from
// several source trees into one process (bench/ab-trees.ts), and their names must not
// collide. From 100: an older tree's copy counts per module from 1.
const PAIRS_MADE = Symbol.for('sway.test.netns.pairsMade');
const processGlobals = globalThis as { [PAIRS_MADE]?: number };
const liveNamespaces = new Set<string>();

/** Create two connected namespaces; given a test context, they are destroyed after the test. */
export async function createHostPair(t?: { after(fn: () => unknown): void }): Promise<HostPair> {
  removeStaleNamespaces();
  const n = (processGlobals[PAIRS_MADE] = (processGlobals[PAIRS_MADE] ?? 99) + 1);
  // Addresses only need to be unique inside each pair (the namespaces are isolated), but a
  // distinct third octet per pair keeps logs and packet captures readable.
  const octet = ((process.pid * 7 + n) % 250) + 1;
  const a: NetnsHost = { ns: `sway-${process.pid}-${n}-a`, address: `10.231.${octet}.1`, iface: IFACE };
  const b: NetnsHost = { ns: `sway-${process.pid}-${n}-b`, address: `10.231.${octet}.2`, iface: IFACE };
  const spawned: RunningSway[] = [];
  let destroyed = false;

  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    await Promise.all(spawned.map((p) => p.stop(3000)));
    for (const host of [a, b]) deleteNamespace(host.ns);
  };
  t?.after(destroy);

  try {
    for (const host of [a, b]) {
      ip('netns', 'add', host.ns);
      liveNamespaces.add(host.ns);
    }
    // Created directly inside the namespaces: the host's own namespace never sees the link.
    ip('link', 'add', IFACE, 'netns', a.ns, 'type', 'veth', 'peer', 'name', IFACE, 'netns', b.ns);
    for (const host of [a, b]) {
      ip('-n', host.ns, 'addr', 'add', `${host.address}/30`, 'dev', IFACE);
      ip('-n', host.ns, 'link', 'set', IFACE, 'up');
      ip('-n', host.ns, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    await destroy();
    throw err;
  }

  const exec: HostPair['exec'] = (host, command, args, opts) => runCommand('nsenter', [`--net=${join(NETNS_DIR, host.ns)}`, '--', command, ...args], opts);
  const spawn: HostPair['spawn'] = (host, command, args, opts) => {
    const p = startCommand('nsenter', [`--net=${join(NETNS_DIR, host.ns)}`, '--', command, ...args], opts);
    spawned.push(p);
    return p;
  };

  return {
    a,
    b,
    exec,
    spawn,
    execSway: (host, args, opts) => exec(host, process.execPath, [SWAY_BIN, ...args], opts),
    spawnSway: (host, args, opts) => spawn(host, process.execPath, [SWAY_BIN, ...args], opts),
    async shape({ rateMbit, queueMs = 50 }) {
      // The bucket must hold at least one tick's worth of bytes at this rate (and a whole
      // 64 KiB GSO packet), or tbf drops instead of shaping.
      const burstBytes = Math.max(128 * 1024, Math.ceil((rateMbit * 1e6) / 8 / 100));
      for (const host of [a, b]) {
        execFileSync('tc', ['-n', host.ns, 'qdisc', 'replace', 'dev', IFACE, 'root', 'tbf', 'rate', `${rateMbit}mbit`, 'burst', String(burstBytes), 'latency', `${queueMs}ms`], { stdio: ['ignore', 'pipe', 'pipe'] });
      }
    },
    async startDelayProxy(host, { targetHost, targetPort, delayMs, listenPort = 0 }) {
      const script = join(REPO_ROOT, 'dist', 'test', 'helpers', 'delay-proxy.js');
      const proc = spawn(host, process.execPath, [script, '--listen', `${host.address}:${listenPort}`, '--target', `${targetHost}:${targetPort}`, '--delay-ms', String(delayMs)]);
      const m = await proc.waitForOutput(/delay-proxy listening (\S+):(\d+)/, 30_000);
      return { host: m[1]!, port: Number(m[2]), process: proc };
    },
    destroy,
  };
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Kill every process still inside the namespace, then delete it. Never throws. */
function deleteNamespace(ns: string): void {
  try {
    const pids = ip('netns', 'pids', ns).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  } catch {
    // No such namespace.
  }
  try {
    ip('netns', 'del', ns);
  } catch {
    // Already deleted.
  }
  liveNamespaces.delete(ns);
}

/** Namespaces named by a process that no longer exists are leftovers of a crash. */
export function removeStaleNamespaces(): void {
  let names: string[];
  try {
    names = readdirSync(NETNS_DIR);
  } catch {
    return;
  }
  for (const name of names) {
    const m = name.match(NAME_PATTERN);
    if (m && Number(m[1]) !== process.pid && !isAlive(Number(m[1]))) deleteNamespace(name);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// A test file that crashes or is cancelled still removes its namespaces on the way out.
process.on('exit', () => {
  for (const ns of [...liveNamespaces]) deleteNamespace(ns);
});
