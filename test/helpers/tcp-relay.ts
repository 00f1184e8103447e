// A plain TCP relay in front of a TLS server, counting what passes: the connections opened
// through it and the bytes coming back. TLS stays end to end (the client verifies the
// server's certificate as usual), so tests can see what a client costs on the wire.
//
//   const relay = await startCountingRelay(t, fx.server.url);   // https://127.0.0.1:PORT
//   ... relay.connections, relay.bytesDown
import { createServer, connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

export interface CountingRelay {
  /** The relay's https:// address (same host as the target, another port). */
  url: string;
  readonly connections: number;
  readonly bytesDown: number;
  /** Cut every connection and stop accepting (the server then looks gone). */
  close(): Promise<void>;
}

export async function startCountingRelay(t: Pick<TestContext, 'after'>, targetUrl: string): Promise<CountingRelay> {
  const target = new URL(targetUrl);
  const counts = { connections: 0, bytesDown: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    counts.connections++;
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); }
    upstream.on('data', (c: Buffer) => { counts.bytesDown += c.length; });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = async () => {
    for (const s of sockets) s.destroy();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    get connections() { return counts.connections; },
    get bytesDown() { return counts.bytesDown; },
    close,
  };
}
