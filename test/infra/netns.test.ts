// The network-namespace helpers (test/helpers/netns.ts) that the end-to-end tests and
// benchmarks use to put a worker and a fileserver on two "hosts": the two namespaces
// talk over their veth link, are isolated from each other's loopback, can be shaped with
// tbf, carry bytes intact through the delaying proxy, and are gone after destroy().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createHostPair, type HostPair, type NetnsHost } from '../helpers/netns.js';
import { startDelayProxy } from '../helpers/delay-proxy.js';
import { makeTempDir } from '../helpers/tmp.js';
import { createServer, connect } from 'node:net';

const needsRoot = process.getuid?.() !== 0 ? 'needs root (ip netns)' : false;

// A TCP echo server for one namespace: prints `echo listening PORT`, echoes every byte.
const ECHO_SERVER = `
const net = require('node:net');
const server = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
server.listen(Number(process.argv[2]), process.argv[1], () => console.log('echo listening ' + server.address().port));
`;

// A client for the other namespace: sends N random bytes to HOST:PORT, half-closes, reads
// the reply and prints `sent <sha256> got <sha256> <bytes>`. Bounded: gives up after 20 s.
const ECHO_CLIENT = `
const net = require('node:net');
const crypto = require('node:crypto');
const [host, port, size] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const payload = crypto.randomBytes(size);
const got = [];
setTimeout(() => { console.error('client: timed out'); process.exit(3); }, 20000).unref();
const s = net.connect({ host, port }, () => s.end(payload));
s.on('data', (b) => got.push(b));
s.on('error', (e) => { console.error('client: ' + e.code); process.exit(4); });
s.on('end', () => {
  const all = Buffer.concat(got);
  const h = (b) => crypto.createHash('sha256').update(b).digest('hex');
  console.log('sent ' + h(payload) + ' got ' + h(all) + ' ' + all.length);
});
`;

async function startEcho(net: HostPair, host: NetnsHost, bindAddress: string): Promise<number> {
  const server = net.spawn(host, process.execPath, ['-e', ECHO_SERVER, bindAddress, '0']);
  const m = await server.waitForOutput(/echo listening (\d+)/, 30_000);
  return Number(m[1]);
}

async function echoThrough(net: HostPair, from: NetnsHost, host: string, port: number, size: number) {
  const r = await net.exec(from, process.execPath, ['-e', ECHO_CLIENT, host, String(port), String(size)], { timeoutMs: 30_000 });
  return r;
}

function assertEchoedIntact(r: { code: number | null; stdout: string; stderr: string }, size: number): void {
  assert.equal(r.code, 0, `client failed: ${r.stderr}`);
  const m = r.stdout.match(/sent (\w+) got (\w+) (\d+)/);
  assert.ok(m, `unexpected client output: ${r.stdout}`);
  assert.equal(Number(m[3]), size, 'every byte came back');
  assert.equal(m[2], m[1], 'the bytes that came back are the bytes sent');
}

test('two namespaces talk over their veth link and nowhere else', { skip: needsRoot }, async (t) => {
  const net = await createHostPair(t);
  assert.notEqual(net.a.ns, net.b.ns);
  assert.ok(existsSync(`/run/netns/${net.a.ns}`) && existsSync(`/run/netns/${net.b.ns}`));

  const port = await startEcho(net, net.b, '0.0.0.0');
  assertEchoedIntact(await echoThrough(net, net.a, net.b.address, port, 64 * 1024), 64 * 1024);

  // Host a's loopback is its own: b's server is not there.
  const viaLoopback = await echoThrough(net, net.a, '127.0.0.1', port, 16);
  assert.notEqual(viaLoopback.code, 0, 'b listening on 0.0.0.0 must not be reachable on a\'s 127.0.0.1');

  // No route leaves the pair: host a has only its link and loopback routes.
  const routes = await net.exec(net.a, 'ip', ['route', 'show']);
  assert.equal(routes.code, 0, routes.stderr);
  assert.doesNotMatch(routes.stdout, /default/);
});

test('the link can be shaped with tbf and still carries data', { skip: needsRoot }, async (t) => {
  const net = await createHostPair(t);
  await net.shape({ rateMbit: 100 });
  for (const host of [net.a, net.b]) {
    const qdisc = await net.exec(host, 'tc', ['qdisc', 'show', 'dev', host.iface]);
    assert.match(qdisc.stdout, /qdisc tbf .*rate 100Mbit/);
  }
  const port = await startEcho(net, net.b, net.b.address);
  assertEchoedIntact(await echoThrough(net, net.a, net.b.address, port, 1024 * 1024), 1024 * 1024);
});

test('the delaying proxy inside a namespace passes bytes through intact', { skip: needsRoot }, async (t) => {
  const net = await createHostPair(t);
  const port = await startEcho(net, net.b, net.b.address);
  const proxy = await net.startDelayProxy(net.a, { targetHost: net.b.address, targetPort: port, delayMs: 2 });
  assert.equal(proxy.host, net.a.address);
  const size = 3 * 1024 * 1024 + 17; // larger than the proxy's in-flight bound, odd length
  assertEchoedIntact(await echoThrough(net, net.a, proxy.host, proxy.port, size), size);
  // And from the other host, across the link, to the proxy and back again.
  assertEchoedIntact(await echoThrough(net, net.b, proxy.host, proxy.port, 1000), 1000);
});

test('the delaying proxy in-process: bytes intact, counted in both directions', async (t) => {
  const echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise<void>((res) => echo.listen(0, '127.0.0.1', res));
  t.after(() => new Promise<void>((res) => echo.close(() => res())));
  const echoPort = (echo.address() as { port: number }).port;
  const proxy = await startDelayProxy({ listenHost: '127.0.0.1', listenPort: 0, targetHost: '127.0.0.1', targetPort: echoPort, delayMs: 1 });
  t.after(() => proxy.close());

  const payload = randomBytes(512 * 1024);
  const reply = await new Promise<Buffer>((res, rej) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: '127.0.0.1', port: proxy.port }, () => s.end(payload));
    s.setTimeout(20_000, () => s.destroy(new Error('echo through proxy timed out')));
    s.on('data', (b: Buffer) => chunks.push(b)).on('end', () => res(Buffer.concat(chunks))).on('error', rej);
  });
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  assert.equal(reply.length, payload.length);
  assert.equal(sha(reply), sha(payload));
  assert.equal(proxy.bytes.up, payload.length);
  assert.equal(proxy.bytes.down, payload.length);
});

test('destroy kills what runs inside and removes both namespaces', { skip: needsRoot }, async () => {
  const net = await createHostPair();
  const sleeper = net.spawn(net.a, 'sleep', ['600']);
  const sleeperPid = sleeper.child.pid!;
  await net.destroy();
  await sleeper.exited;
  const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.doesNotMatch(list, new RegExp(`\\b${net.a.ns}\\b`));
  assert.doesNotMatch(list, new RegExp(`\\b${net.b.ns}\\b`));
  assert.throws(() => process.kill(sleeperPid, 0), /ESRCH/, 'the process spawned inside is gone');
  await net.destroy(); // idempotent
});

test('a real fileserver on host b answers host a over TLS, verified against its CA', { skip: needsRoot }, async (t) => {
  const net = await createHostPair(t);
  const data = await makeTempDir(t, 'sway-netns-fs-');
  const server = net.spawnSway(net.b, ['fileserver', '--data', data, '--host', net.b.address, '--port', '0', '--san', net.b.address]);
  const m = await server.waitForOutput(/fileserver listening on (\S+) ca=(\S+)/, 60_000);
  const [url, ca] = [m[1]!, m[2]!];
  assert.ok(url.includes(net.b.address), `listening on ${url}`);
  // From host a: HTTPS with verification against the fileserver's own CA (never off).
  const probe = `
    const https = require('node:https');
    const ca = require('node:fs').readFileSync(process.argv[2]);
    setTimeout(() => { console.error('probe: timed out'); process.exit(3); }, 20000).unref();
    https.get(process.argv[1] + '/healthz', { ca }, (res) => {
      let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => console.log(res.statusCode + ' ' + body));
    }).on('error', (e) => { console.error('probe: ' + e.message); process.exit(4); });`;
  const r = await net.exec(net.a, process.execPath, ['-e', probe, url, ca], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^200 /);
});
