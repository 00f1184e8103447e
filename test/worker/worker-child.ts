// A worker server (directory-backed images, static tokens) in a child process, so a test
// can kill -9 it mid-run. Usage: node worker-child.js '<json {dataDir, rootfs, tlsDir}>'
// Prints one JSON line {"url": "..."} once listening.
import { startWorkerServer } from '../../ts/worker/server.js';
import { DirectoryImageProvider } from '../../ts/worker/images/directory-provider.js';
import { StaticAuthenticator } from '../../ts/worker/auth.js';
import { MemoryScriptSource } from '../../ts/worker/scripts.js';
import { ensureTlsMaterial } from '../../ts/common/tls.js';

const cfg = JSON.parse(process.argv[2]!) as { dataDir: string; rootfs: string; tlsDir: string };
const server = await startWorkerServer({
  dataDir: cfg.dataDir, host: '127.0.0.1', port: 0, tls: ensureTlsMaterial(cfg.tlsDir),
  provider: new DirectoryImageProvider({ busybox: { dir: cfg.rootfs, config: { workingDir: '/' } } }),
  authenticator: new StaticAuthenticator({ 'alice-token': 'alice' }),
  scripts: new MemoryScriptSource(),
  log: (line) => process.stderr.write(line + '\n'),
});
process.stdout.write(JSON.stringify({ url: server.url }) + '\n');
process.on('SIGTERM', () => { void server.close().then(() => process.exit(0)); });
