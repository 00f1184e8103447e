// The production worker: TLS material, the lazy FUSE mount at D/mnt (a stale one is
// cleared by LazyFilesystem.mount), images from the fileserver (manifests kept in
// D/manifests), users authenticated by the fileserver, the run log in D/runs.db, and
// the HTTPS server. The images used last are loaded again in the background after the
// server listens. `sway worker` and `sway up` call startWorker.
// Layout of D: tls/ (ca.pem) tls-private/ (keys) mnt/ cache/ manifests/ runs/ runc/ runs.db
// Deliberately does not: parse flags (ts/cli/commands/worker.ts) or fork daemons.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveServerTls } from '../common/tls.js';
import { defaultLog, type Log } from '../common/server.js';
import { FileserverClient } from '../common/fileserver-client.js';
import { ConfigError, RemoteError } from '../common/errors.js';
import { LazyFilesystem } from './fuse/lazy-fs.js';
import { FileserverBlobFetcher, type FetchObserver } from './fuse/blob-fetcher.js';
import { BlobFetchError } from './fuse/errors.js';
import { FileserverChunkFetcher } from './fuse/chunk-cache.js';
import { FuseImageProvider } from './images/fuse-provider.js';
import { StartProfiles } from './prefetch/start-profiles.js';
import { FileserverAuthenticator } from './auth.js';
import { FileserverScriptSource } from './scripts.js';
import { startWorkerServer, type WorkerServer } from './server.js';
import { RunLog } from './run-log.js';
import { WorkerMetrics } from './metrics.js';
import { recordingHooks } from './run-recording.js';
import { dashboardMiddleware } from './dashboard/routes.js';

export interface WorkerOptions {
  dataDir: string;
  host: string;
  port: number;
  fileserverUrl: string;
  /** The worker's own fileserver token (role `worker`). */
  token: string;
  /** CA that signs the fileserver's certificate. */
  caFile?: string;
  sans?: string[];
  tlsDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  /** runc (default) or runsc. */
  runtime?: string;
  cacheMaxBytes?: number;
  /**
   * Start profiles: prefetch an image's profiled blobs when it is loaded (default on;
   * SWAY_WORKER_PREFETCH=0 turns it off) and record runs' accesses as profiles (always).
   */
  prefetch?: boolean;
  /** How many of the images used last to load again at start (default 8; 0: none). */
  preloadImages?: number;
  /**
   * Take the fileserver's gzip copies of blobs (whole-blob fetches and prefetch batches;
   * default on; SWAY_WORKER_GZIP=0 turns it off): about a third of the bytes on the link,
   * for some CPU to decompress.
   */
  acceptGzip?: boolean;
  /**
   * Open-less files (native/src/lazy_fs.h): no round trip per open and close, no FUSE
   * passthrough for big cached files. Default: only where the kernel offers no passthrough
   * (SWAY_WORKER_FUSE_OPEN_LESS=1 or 0 decides instead).
   */
  fuseOpenLess?: boolean;
  log?: Log;
}

export const DEFAULT_PRELOAD_IMAGES = 8;

export interface Worker extends WorkerServer {
  caCertPath: string;
  mountpoint: string;
}

export async function startWorker(opts: WorkerOptions): Promise<Worker> {
  const log = opts.log ?? defaultLog('worker');
  const d = opts.dataDir;
  await mkdir(d, { recursive: true, mode: 0o700 });
  const tls = resolveServerTls(opts.tlsDir ?? join(d, 'tls'), { tlsCert: opts.tlsCert, tlsKey: opts.tlsKey, tlsCa: opts.tlsCa, sans: opts.sans });
  const fileserver = new FileserverClient({ url: opts.fileserverUrl, caFile: opts.caFile, token: opts.token });
  // Requests made with a user's token (auth, image names, scripts) share the worker's own
  // connections: tokens travel per request, and each run saves its TLS handshakes.
  const fileserverAccess = { url: opts.fileserverUrl, caFile: opts.caFile, pool: fileserver.http.dispatcher };
  await checkWorkerToken(fileserver, log);

  const mountpoint = join(d, 'mnt');
  const cacheDir = join(d, 'cache');
  // A worker killed with -9 leaves its FUSE mount behind, where mkdir fails with ENOTCONN:
  // LazyFilesystem.mount clears exactly that case.
  await mkdir(mountpoint, { recursive: true }).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOTCONN') throw err; });
  const metrics = new WorkerMetrics();
  // One log line per failure, naming the blob by hash (messages never carry a token).
  const fetchObserver: FetchObserver = {
    attemptFailed(hash, kind, err, willRetry) {
      metrics.recordFetchAttemptFailure(kind, willRetry);
      if (kind === 'integrity') log(`blob ${hash}: integrity failure, nothing cached: ${(err as Error)?.message ?? String(err)}`);
      else if (willRetry) log(`blob ${hash}: fetch attempt failed (${kind}), retrying: ${(err as Error)?.message ?? String(err)}`);
    },
  };
  const acceptGzip = opts.acceptGzip ?? envSwitch('SWAY_WORKER_GZIP') !== false;
  const fuseOpenLess = opts.fuseOpenLess ?? envSwitch('SWAY_WORKER_FUSE_OPEN_LESS') ?? 'auto';
  const fs = await LazyFilesystem.mount({
    mountpoint, cacheDir, cacheMaxBytes: opts.cacheMaxBytes, noOpen: fuseOpenLess, fetcher: new FileserverBlobFetcher(fileserver, { acceptGzip }), fetchObserver,
    chunkFetcher: new FileserverChunkFetcher(fileserver),
    onFetchError: (hash, err) => {
      metrics.recordFetchGaveUp(err instanceof BlobFetchError ? err.kind : 'unavailable');
      log(`blob ${hash} could not be fetched, reader got EIO: ${(err as Error).message}`);
    },
  });
  const prefetch = opts.prefetch ?? envSwitch('SWAY_WORKER_PREFETCH') !== false;
  const profiles = new StartProfiles(fs, fileserver, fileserverAccess, { prefetch, log, acceptGzip });
  log(`start profiles: recording on, prefetch ${prefetch ? 'on' : 'off'}; gzip copies from the fileserver ${acceptGzip ? 'taken' : 'not taken'}; file opens ${fuseOpenLess === 'auto' ? 'open-less unless the kernel has FUSE passthrough' : fuseOpenLess ? 'open-less' : 'sent to the worker (passthrough on)'}`);
  const provider = new FuseImageProvider({ fs, fileserver, fileserverAccess, manifestsDir: join(d, 'manifests'), cacheDir, profiles });
  const runLog = new RunLog(join(d, 'runs.db'));
  const interrupted = runLog.markInterrupted();
  if (interrupted) log(`run log: ${interrupted} runs of a previous worker marked interrupted`);
  metrics.onCollect(() => {
    const s = fs.stats();
    return { memoryHits: s.memoryHits, diskHits: s.diskHits, serverFetches: s.serverFetches, bytesFetched: s.bytesFetched, eios: s.eios };
  });
  const authenticator = new FileserverAuthenticator(fileserverAccess);
  let server: WorkerServer;
  try {
    server = await startWorkerServer({
      dataDir: d, host: opts.host, port: opts.port, tls, provider, authenticator,
      extraMiddleware: [dashboardMiddleware({ runLog, metrics, authenticate: (token, client) => authenticator.authenticate(token, client) })],
      scripts: new FileserverScriptSource(fileserverAccess),
      runtimeBinary: opts.runtime, hooks: recordingHooks(runLog, metrics), log,
    });
  } catch (err) {
    await provider.close();
    runLog.close();
    throw err;
  }
  // After listening: runs are accepted at once; a run of an image being preloaded waits
  // for that load instead of starting another.
  const preloading = preloadImages(provider, opts.preloadImages ?? DEFAULT_PRELOAD_IMAGES, log);
  return {
    ...server,
    caCertPath: tls.caCertPath,
    mountpoint,
    async close() {
      await server.close();
      await preloading;
      log('runs stopped and cleaned up; unmounting');
      await provider.close(); // unmounts: only after every run's overlay is gone
      runLog.close();
      log('stopped');
    },
  };
}

/** An on/off switch in the environment: true (1, on, true, yes), false (0, off, false, no), else undefined. */
function envSwitch(name: string): boolean | undefined {
  const value = process.env[name] ?? '';
  return /^(1|on|true|yes)$/i.test(value) ? true : /^(0|off|false|no)$/i.test(value) ? false : undefined;
}

/** Never rejects: a failed preload only means the first run of that image loads it. */
async function preloadImages(provider: FuseImageProvider, limit: number, log: Log): Promise<void> {
  if (limit <= 0) return;
  const started = Date.now();
  try {
    const ids = await provider.preloadStored(limit);
    log(`images preloaded: ${ids.length} from stored manifests in ${Date.now() - started} ms${ids.length ? ` (${ids.map((id) => id.slice(0, 12)).join(', ')})` : ''}`);
  } catch (err) {
    log(`images preloaded: none, ${(err as Error).message}`);
  }
}

/** A wrong worker token is a configuration error worth failing the start for. */
async function checkWorkerToken(client: FileserverClient, log: Log): Promise<void> {
  try {
    const who = await client.whoami();
    if (who.role !== 'worker') log(`warning: the worker token belongs to ${who.user} (role ${who.role}), not a worker: images of other users will not load`);
  } catch (err) {
    if (err instanceof RemoteError && err.status === 401) throw new ConfigError('the fileserver refused the worker token (--token): create one with `sway fileserver adduser NAME --role worker`');
    log(`warning: fileserver not reachable at start (${(err as Error).message}); runs will fail until it is`);
  }
}
