// Shared setup of the worker tests: a tiny busybox root filesystem (Debian's static
// busybox with applet symlinks, passwd/group, /tmp, /app) and a real worker server on
// 127.0.0.1:0 with a directory-backed image provider, static tokens and in-memory
// scripts. Everything is removed after the test, the server closed first.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { removeTempDir } from '../helpers/tmp.js';
import { BUSYBOX, writeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { ensureTlsMaterial } from '../../ts/common/tls.js';
import { sha256 } from '../../ts/common/hash.js';
import { startWorkerServer, type WorkerServer } from '../../ts/worker/server.js';
import { DirectoryImageProvider, type DirectoryImage } from '../../ts/worker/images/directory-provider.js';
import { StaticAuthenticator, type Authenticator } from '../../ts/worker/auth.js';
import type { ServerTimeouts } from '../../ts/common/server.js';
import { MemoryScriptSource } from '../../ts/worker/scripts.js';
import { WorkerClient } from '../../ts/worker/client.js';
import type { RunHooks } from '../../ts/worker/handlers/runs.js';

export { BUSYBOX };
export const HAVE_RUNTIME = existsSync(BUSYBOX) && process.getuid?.() === 0;
export const HAVE_RUNSC = HAVE_RUNTIME && existsSync('/usr/bin/runsc');
const APPLETS = ['tr', 'cut', 'seq', 'sh', 'echo', 'cat', 'ls', 'sleep', 'id', 'touch', 'test', 'true', 'false', 'kill', 'mkdir', 'rm', 'grep', 'wc', 'head', 'printf', 'hostname', 'ip', 'mount', 'unshare', 'nproc', 'dd', 'env', 'pwd', 'stat'];

export async function makeBusyboxRootfs(dir: string): Promise<string> {
  return writeBusyboxRootfs(dir, {
    applets: APPLETS,
    dirs: ['etc', 'app', 'root', 'home/app', 'proc', 'sys', 'dev'],
    files: {
      'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n',
      'etc/group': 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n',
    },
  });
}

export interface TestWorker {
  dir: string;
  rootfs: string;
  server: WorkerServer;
  scripts: MemoryScriptSource;
  token: string;
  client(token?: string): WorkerClient;
  addScript(content: string): { hash: string };
}

export interface TestWorkerOptions {
  images?: (rootfs: string) => Record<string, DirectoryImage>;
  hooks?: RunHooks;
  runtime?: string;
  /** Default: static tokens alice-token, bob-token. */
  authenticator?: Authenticator;
  timeouts?: Partial<ServerTimeouts>;
}

export async function startTestWorker(t: Pick<TestContext, 'after'>, opts: TestWorkerOptions = {}): Promise<TestWorker> {
  const dir = await mkdtemp(join(tmpdir(), 'sway-worker-'));
  const clients: WorkerClient[] = [];
  let server: WorkerServer | undefined;
  // One hook, in order: clients, then the server (waits for runs' cleanup), then the dir.
  t.after(async () => {
    for (const c of clients) await c.close();
    await server?.close();
    await removeTempDir(dir);
  });
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  const tls = ensureTlsMaterial(join(dir, 'tls'));
  const images = opts.images?.(rootfs) ?? { 'busybox': { dir: rootfs, config: { workingDir: '/app', cmd: ['sh', 'main.sh'] } } };
  const scripts = new MemoryScriptSource();
  const token = 'alice-token';
  server = await startWorkerServer({
    dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, tls,
    provider: new DirectoryImageProvider(images),
    authenticator: opts.authenticator ?? new StaticAuthenticator({ [token]: 'alice', 'bob-token': 'bob' }),
    scripts, hooks: opts.hooks, runtimeBinary: opts.runtime, timeouts: opts.timeouts, log: () => {},
  });
  return {
    dir, rootfs, server, scripts, token,
    client(tok = token) {
      const c = new WorkerClient({ url: server!.url, token: tok, caFile: tls.caCertPath });
      clients.push(c);
      return c;
    },
    addScript(content: string) {
      const buf = Buffer.from(content);
      const hash = sha256(buf);
      scripts.scripts.set(hash, buf);
      return { hash };
    },
  };
}

/** Collect a run's output as strings. */
export async function collectRun(client: WorkerClient, body: Parameters<WorkerClient['run']>[0], signal?: AbortSignal) {
  let stdout = '', stderr = '';
  const outcome = await client.run(body, {
    onStdout: (b) => { stdout += b.toString(); },
    onStderr: (b) => { stderr += b.toString(); },
    signal,
  });
  return { ...outcome, stdout, stderr };
}
