// `sway worker`: run the worker daemon (HTTPS API, lazy FUSE mount, runc). Prints one
// line `worker listening on URL ca=PATH` once it accepts runs, tells systemd it is
// ready, and on SIGTERM/SIGINT stops cleanly: cancels running containers, removes their
// overlays, then unmounts the FUSE filesystem.
// Deliberately does not: daemonize itself (`sway up` and systemd do that).
import { readFileSync } from 'node:fs';
import { Command, Option } from 'clipanion';
import { ServerCommand } from '../server-command.js';
import { DEFAULT_WORKER_PORT } from '../../common/protocol.js';
import { ConfigError, UsageError } from '../../common/errors.js';
import { notifyReady, takeNotifySocket } from '../../common/sd-notify.js';
// The worker's modules (koa, SQLite, the FUSE addon) are imported where they are used:
// every `sway` invocation loads this file.
export const DEFAULT_WORKER_DATA_DIR = '/var/lib/sway/worker';

export class WorkerCommand extends ServerCommand {
  static override paths = [['worker']];
  static override usage = Command.Usage({
    description: 'Run the worker: runs containers on lazily loaded images (HTTPS)',
    details: `Mounts its FUSE filesystem at DATA_DIR/mnt, keeps the blob cache in DATA_DIR/cache and the run log in DATA_DIR/runs.db. Users authenticate with their fileserver tokens. The worker's own token (role worker) is given with --token, --token-file or SWAY_WORKER_TOKEN.`,
    examples: [['Run against a fileserver', 'sway worker --fileserver https://files:8443 --token-file /etc/sway/worker-token --ca /etc/sway/ca.pem']],
  });

  fileserver = Option.String('--fileserver', { description: 'Fileserver address, https://host:port (env SWAY_FILESERVER)' });
  token = Option.String('--token', { description: 'The worker\'s fileserver token (env SWAY_WORKER_TOKEN)' });
  tokenFile = Option.String('--token-file', { description: 'File holding the worker\'s token' });
  ca = Option.String('--ca', { description: 'CA certificate of the fileserver (env SWAY_CA)' });
  dataDir = Option.String('--data-dir,--data', DEFAULT_WORKER_DATA_DIR, { description: 'Data directory (mount, cache, run log, TLS material)' });
  runtime = Option.String('--runtime', 'runc', { description: 'OCI runtime: runc, or runsc (gVisor) for a stronger boundary' });
  cacheMaxGb = Option.String('--cache-max-gb', { description: 'Disk cache cap in GiB (default 10)' });
  prefetch = Option.Boolean('--prefetch', { description: 'Prefetch an image\'s start profile when it is loaded (default on; --no-prefetch turns it off, env SWAY_WORKER_PREFETCH=0)' });
  gzip = Option.Boolean('--gzip', { description: 'Take the fileserver\'s gzip copies of blobs: about a third of the bytes on the link, for some CPU (default on; --no-gzip turns it off, env SWAY_WORKER_GZIP=0)' });
  fuseOpenLess = Option.Boolean('--fuse-open-less', { description: 'Open-less files: opens and closes of a container\'s files cost no round trip to the worker (faster re-reads of many small files, and concurrent starts), but cached files over 1 MiB are no longer read by the kernel straight from the cache (FUSE passthrough), which slows their first reads (1.7-2.8x ext4\'s time here, against 1.0x) and re-reads (1.4x). Default: only where the kernel has no FUSE passthrough (before Linux 6.9, such as Debian 12\'s 6.1), where opens buy nothing; --no-fuse-open-less sends them anyway (env SWAY_WORKER_FUSE_OPEN_LESS=1 or 0)' });
  preloadImages = Option.String('--preload-images', { description: 'At start, load again the N images used last from their stored manifests, so their first run skips loading (default 8; 0: none)' });

  async perform(): Promise<number> {
    takeNotifySocket(); // before anything spawns: no child (runc above all) may inherit it
    const { defaultLog } = await import('../../common/server.js');
    const { startWorker } = await import('../../worker/index.js');
    const log = defaultLog('worker');
    const fileserverUrl = this.fileserver ?? process.env.SWAY_FILESERVER;
    if (!fileserverUrl) throw new ConfigError('no fileserver configured: pass --fileserver https://host:port or set SWAY_FILESERVER');
    const token = this.readToken();
    if (!['runc', 'runsc'].includes(this.runtime) && !this.runtime.startsWith('/')) throw new UsageError(`invalid --runtime ${JSON.stringify(this.runtime)}: runc, runsc or an absolute path`);
    const cacheMaxBytes = this.cacheMaxGb === undefined ? undefined : positiveNumber('--cache-max-gb', this.cacheMaxGb) * 1024 ** 3;
    const worker = await startWorker({
      dataDir: this.dataDir, ...this.listenOptions('SWAY_WORKER', DEFAULT_WORKER_PORT),
      fileserverUrl, token, caFile: this.ca ?? process.env.SWAY_CA,
      runtime: this.runtime, prefetch: this.prefetch, acceptGzip: this.gzip, fuseOpenLess: this.fuseOpenLess, preloadImages: this.preloadImages === undefined ? undefined : wholeNumber('--preload-images', this.preloadImages),
      cacheMaxBytes: cacheMaxBytes === undefined ? undefined : Math.floor(cacheMaxBytes), log,
    });
    this.context.stdout.write(`worker listening on ${worker.url} ca=${worker.caCertPath}\n`);
    await notifyReady(log);
    await this.waitForStopSignal();
    log('stopping: cancelling runs, unmounting');
    await worker.close();
    return 0;
  }

  private readToken(): string {
    if (this.token) return this.token;
    if (this.tokenFile) {
      try { return readFileSync(this.tokenFile, 'utf8').trim(); } catch (err) {
        throw new ConfigError(`cannot read --token-file ${this.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    if (process.env.SWAY_WORKER_TOKEN) return process.env.SWAY_WORKER_TOKEN;
    throw new ConfigError('no worker token: pass --token-file FILE (or --token, or set SWAY_WORKER_TOKEN); create one with `sway fileserver adduser NAME --role worker`');
  }
}

function wholeNumber(flag: string, raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) throw new UsageError(`invalid ${flag} ${JSON.stringify(raw)}: a whole number, 0 or more`);
  return n;
}

function positiveNumber(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`invalid ${flag} ${JSON.stringify(raw)}`);
  return n;
}
