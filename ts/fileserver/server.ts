// Start a fileserver: open the data directory (SQLite + blob store + TLS material),
// wire the routes, listen on HTTPS. Used by `sway fileserver` and, in-process, by tests
// of every part that needs a real fileserver.
//
// Data directory layout:
//   fileserver.db (+ -wal, -shm)   users, ownership, names, scripts
//   blobs/ab/<hash>                blob contents (store/local-store.ts)
//   tmp/                           staged uploads, emptied at start
//   tls/                           ca.pem only, what clients trust, unless given (or tlsDir)
//   tls-private/                   CA key, server certificate and key (0700; common/tls.ts)
//   fileserver.lock.db             kernel lock of the server using the directory
//   fileserver.pid                 its pid, for messages
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FILESERVER_PORT } from '../common/protocol.js';
import { createApp, defaultLog, FILESERVER_TIMEOUTS, listenHttps, Router, urlFor, type Log } from '../common/server.js';
import { resolveServerTls } from '../common/tls.js';
import { authenticate } from './auth.js';
import { DEFAULT_LIMITS, type FileserverContext, type FileserverLimits } from './context.js';
import { FileserverDb, type Role } from './db.js';
import { ManifestCache, type ManifestDecodeStats } from './manifest-cache.js';
import { ManifestDecoder } from './manifest-decoder.js';
import { lockDataDir } from './data-dir-lock.js';
import { forgetCorruptBlob } from './corrupt-blob.js';
import { GcLock } from './gc-lock.js';
import { registerAdminRoutes } from './handlers/admin.js';
import { LocalBlobStore } from './store/local-store.js';
import type { BlobStore } from './store/blob-store.js';
import { GzipVariants } from './store/gzip-variants.js';
import { registerBatchUploadRoute } from './handlers/batch-upload.js';
import { registerBlobRoutes } from './handlers/blobs.js';
import { registerFetchBatchRoute } from './handlers/fetch-batch.js';
import { registerImageRoutes } from './handlers/images.js';
import { registerLegacyFetchRoute } from './handlers/legacy-fetch.js';
import { registerMiscRoutes } from './handlers/misc.js';
import { registerProfileRoutes } from './handlers/profiles.js';
import { registerScriptRoutes } from './handlers/scripts.js';
import { registerSyncRoute } from './handlers/sync.js';

export interface FileserverOptions {
  dataDir: string;
  /** Bind address; default 127.0.0.1 (the CLI defaults to 0.0.0.0). */
  host?: string;
  /** Default 8443; 0 picks a free port. */
  port?: number;
  /** Extra names/IPs for the generated server certificate. */
  sans?: string[];
  /** Where the generated CA and certificate live; default <dataDir>/tls. Share it with a worker to share the CA. */
  tlsDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  log?: Log;
  limits?: Partial<FileserverLimits>;
  /** Cut a connection idle (nothing sent or read) for this long mid-request; default 120 s. */
  idleTimeoutMs?: number;
  /** Another backend (tests, a future S3 store); default the local directory store. */
  store?: BlobStore;
}

export interface RunningFileserver {
  url: string;
  port: number;
  caCertPath: string;
  dataDir: string;
  /** Create a user directly in the database; returns its token. */
  addUser(name: string, role?: Role): string;
  /** The manifest decodes since start (for tests: decodes are off the event loop and failures remembered). */
  manifestStats(): ManifestDecodeStats;
  close(): Promise<void>;
}

/** Uploads or downloads that make no progress for this long are cut off. */
export const DEFAULT_IDLE_TIMEOUT_MS = FILESERVER_TIMEOUTS.idleMs;

export function databasePath(dataDir: string): string {
  return join(dataDir, 'fileserver.db');
}

export async function startFileserver(opts: FileserverOptions): Promise<RunningFileserver> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? defaultLog('fileserver');
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const tls = resolveServerTls(opts.tlsDir ?? join(opts.dataDir, 'tls'), {
    tlsCert: opts.tlsCert, tlsKey: opts.tlsKey, tlsCa: opts.tlsCa, sans: opts.sans,
  });
  const unlock = lockDataDir(opts.dataDir);
  let db: FileserverDb;
  const store = opts.store ?? new LocalBlobStore(opts.dataDir);
  const gzip = new GzipVariants(opts.dataDir, store, log);
  try {
    await store.init();
    await gzip.init();
    db = new FileserverDb(databasePath(opts.dataDir));
  } catch (err) {
    unlock();
    throw err;
  }
  const limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
  const manifests = new ManifestCache(store, limits.maxManifestBytes, new ManifestDecoder(limits.manifestDecodeMs));
  const fs: FileserverContext = { db, store, limits, log, manifests, gcLock: new GcLock(), gzip };
  gzip.onCorrupt = (hash) => { forgetCorruptBlob(fs, hash).catch((err) => log(`blob ${hash}: cannot drop its corrupt copy: ${(err as Error).message}`)); };

  const router = new Router();
  registerMiscRoutes(router);
  registerFetchBatchRoute(router, fs); // before /v1/blobs/:hash
  registerBlobRoutes(router, fs);
  registerSyncRoute(router, fs);
  registerBatchUploadRoute(router, fs);
  registerImageRoutes(router, fs);
  registerProfileRoutes(router, fs);
  registerScriptRoutes(router, fs);
  registerLegacyFetchRoute(router, fs);
  registerAdminRoutes(router, fs);

  const app = createApp({ name: 'fileserver', log });
  app.use(authenticate(db));
  app.use(router.middleware());

  let listening;
  try {
    listening = await listenHttps(app, { host, port: opts.port ?? DEFAULT_FILESERVER_PORT, tls, timeouts: { ...FILESERVER_TIMEOUTS, idleMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS } });
  } catch (err) {
    await manifests.close();
    db.close();
    unlock();
    throw err;
  }
  const url = urlFor(host, listening.port);
  return {
    url,
    port: listening.port,
    caCertPath: tls.caCertPath,
    dataDir: opts.dataDir,
    addUser: (name, role = 'user') => db.addUser(name, role),
    manifestStats: () => manifests.stats(),
    async close() {
      await listening.close();
      await manifests.close();
      await gzip.close();
      db.close();
      unlock();
    },
  };
}

/** Add a user to a data directory's database (server running or not: SQLite WAL). */
export function addUser(dataDir: string, name: string, role: Role = 'user'): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new FileserverDb(databasePath(dataDir));
  try { return db.addUser(name, role); } finally { db.close(); }
}

/** Replace a user's token (the old one stops working at once); returns the new one. */
export function rotateToken(dataDir: string, name: string): string {
  const db = new FileserverDb(databasePath(dataDir));
  try { return db.rotateToken(name); } finally { db.close(); }
}
