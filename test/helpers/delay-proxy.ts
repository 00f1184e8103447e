// A small TCP proxy that adds latency: every chunk, in each direction, is forwarded
// `delayMs` after it arrived (so a round trip through it gains 2 x delayMs). This kernel
// has tbf (bandwidth) but no netem (delay), so tests and benchmarks put this in front of
// a server to model a network with a given round-trip time. Bytes pass through unchanged
// and in order; a slow receiver pauses the sender (bounded buffering).
//
// In-process:  const proxy = await startDelayProxy({ listenHost, listenPort: 0, targetHost, targetPort, delayMs });
// As a process (e.g. inside a network namespace, see netns.ts `startDelayProxyIn`):
//   node dist/test/helpers/delay-proxy.js --listen 10.231.7.1:9443 --target 10.231.7.2:8443 --delay-ms 0.5
//   prints `delay-proxy listening HOST:PORT` once it accepts connections; stops on SIGTERM.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface DelayProxyOptions {
  listenHost: string;
  /** 0 picks a free port. */
  listenPort: number;
  targetHost: string;
  targetPort: number;
  /** One-way delay added to each direction, in milliseconds (fractions allowed). */
  delayMs: number;
}

export interface DelayProxy {
  host: string;
  port: number;
  /** Bytes forwarded client->target and target->client so far. */
  bytes: { up: number; down: number };
  close(): Promise<void>;
}

/** Buffered-but-not-yet-written bytes per direction before the sender is paused. */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;

export function startDelayProxy(opts: DelayProxyOptions): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const bytes = { up: 0, down: 0 };
  // allowHalfOpen: a client that finishes sending still gets the (delayed) rest of the reply.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ host: opts.targetHost, port: opts.targetPort, allowHalfOpen: true });
    sockets.add(client).add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', closeBoth).on('close', () => sockets.delete(client));
    upstream.on('error', closeBoth).on('close', () => sockets.delete(upstream));
    pipeWithDelay(client, upstream, opts.delayMs, (n) => (bytes.up += n));
    pipeWithDelay(upstream, client, opts.delayMs, (n) => (bytes.down += n));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listenPort, opts.listenHost, () => {
      const address = server.address();
      if (!address || typeof address === 'string') return reject(new Error('delay-proxy: no TCP address'));
      resolve({
        host: opts.listenHost,
        port: address.port,
        bytes,
        close: () =>
          new Promise<void>((res) => {
            for (const s of sockets) s.destroy();
            server.close(() => res());
          }),
      });
    });
  });
}

/** Forward `from` to `to`, each chunk and the final end `delayMs` late, in order. */
function pipeWithDelay(from: Socket, to: Socket, delayMs: number, counted: (n: number) => void): void {
  let inFlight = 0;
  // Timers of one duration fire in the order they were set, so chunks stay in order.
  const later = (fn: () => void) => (delayMs > 0 ? setTimeout(fn, delayMs) : setImmediate(fn));
  from.on('data', (chunk: Buffer) => {
    inFlight += chunk.length;
    if (inFlight > MAX_IN_FLIGHT) from.pause();
    later(() => {
      if (to.destroyed) return;
      to.write(chunk, () => {
        inFlight -= chunk.length;
        counted(chunk.length);
        if (from.isPaused() && inFlight <= MAX_IN_FLIGHT / 2) from.resume();
      });
    });
  });
  from.on('end', () => later(() => to.destroyed || to.end()));
}

function parseHostPort(value: string | undefined, flag: string): { host: string; port: number } {
  const m = value?.match(/^(.+):(\d+)$/);
  if (!m) throw new Error(`delay-proxy: ${flag} HOST:PORT required`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function main(argv: string[]): Promise<void> {
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const listen = parseHostPort(flag('--listen'), '--listen');
  const target = parseHostPort(flag('--target'), '--target');
  const delayMs = Number(flag('--delay-ms') ?? '0');
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error('delay-proxy: --delay-ms must be a number >= 0');
  const proxy = await startDelayProxy({ listenHost: listen.host, listenPort: listen.port, targetHost: target.host, targetPort: target.port, delayMs });
  process.stdout.write(`delay-proxy listening ${proxy.host}:${proxy.port}\n`);
  const stop = () => void proxy.close().then(() => process.exit(0));
  process.on('SIGTERM', stop).on('SIGINT', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  });
}
