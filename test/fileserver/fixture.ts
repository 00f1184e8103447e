// A real fileserver on 127.0.0.1, port 0, in a temp data dir, with users alice, bob
// (role user) and w (role worker), and a client for each. Everything is closed and
// removed after the test.
import type { TestContext } from 'node:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { startFileserver, type FileserverLimits, type RunningFileserver } from '../../ts/fileserver/index.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { sha256 } from '../../ts/common/hash.js';

export interface Fixture {
  server: RunningFileserver;
  dataDir: string;
  tokens: { alice: string; bob: string; worker: string };
  alice: FileserverClient;
  bob: FileserverClient;
  worker: FileserverClient;
  anonymous: FileserverClient;
  client(token?: string): FileserverClient;
  /** Log lines the server wrote. */
  logs: string[];
}

export async function startFixture(t: TestContext, opts: { limits?: Partial<FileserverLimits>; dataDir?: string } = {}): Promise<Fixture> {
  const dataDir = opts.dataDir ?? await makeTempDir(t, 'sway-fs-');
  const logs: string[] = [];
  const server = await startFileserver({ dataDir, port: 0, log: (l) => logs.push(l), limits: opts.limits });
  const clients: FileserverClient[] = [];
  t.after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });
  const tokens = { alice: server.addUser('alice'), bob: server.addUser('bob'), worker: server.addUser('w', 'worker') };
  const client = (token?: string) => {
    const c = new FileserverClient({ url: server.url, token, caFile: server.caCertPath, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 });
    clients.push(c);
    return c;
  };
  return {
    server, dataDir, tokens, logs, client,
    alice: client(tokens.alice), bob: client(tokens.bob), worker: client(tokens.worker), anonymous: client(),
  };
}

export function blob(text: string): { content: Buffer; hash: string } {
  const content = Buffer.from(text);
  return { content, hash: sha256(content) };
}

/** Every file under dir (relative paths), recursively. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    for (const n of names) {
      const p = join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      try { readdirSync(p); walk(p, r); } catch { out.push(r); }
    }
  };
  walk(dir, '');
  return out.sort();
}

/** Assert-friendly: the RemoteError status of a rejected promise. */
export async function statusOf(p: Promise<unknown>): Promise<number | 'ok'> {
  try { await p; return 'ok'; } catch (err) { return (err as { status?: number }).status ?? -1; }
}
