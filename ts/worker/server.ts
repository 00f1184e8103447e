// The worker's HTTPS server, with its dependencies given: image provider, authenticator,
// script source, runtime. `startWorker` clears a crashed predecessor's leftovers, then
// listens. Production wiring (FUSE mount, fileserver clients) is in index.ts; tests
// pass a directory-backed provider and static tokens.
// Deliberately does not: mount FUSE or choose where images come from.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Middleware } from 'koa';
import { createApp, defaultLog, listenHttps, Router, urlFor, WORKER_TIMEOUTS, type Handler, type Listening, type Log, type ServerTimeouts } from '../common/server.js';
import type { TlsMaterial } from '../common/tls.js';
import type { Authenticator } from './auth.js';
import type { ImageRootProvider } from './images/provider.js';
import type { ScriptSource } from './scripts.js';
import { Runner } from './runner.js';
import { Runtime } from './runc.js';
import { hostHardLimits } from './oci/host-limits.js';
import { recoverLeftovers } from './recovery.js';
import { runsHandler, SHUTDOWN, type RunHooks } from './handlers/runs.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { takeNotifySocket } from '../common/sd-notify.js';

/** How long runs get to report their cancellation before connections are cut. */
const SHUTDOWN_GRACE_MS = 30_000;

export interface WorkerServerOptions {
  /** Holds runs/ (run directories) and runc/ (the runtime's state root). */
  dataDir: string;
  host: string;
  port: number;
  tls: TlsMaterial;
  provider: ImageRootProvider;
  authenticator: Authenticator;
  scripts: ScriptSource;
  /** runc (default) or runsc. */
  runtimeBinary?: string;
  hooks?: RunHooks;
  /**
   * Extra routes (the dashboard), mounted BEFORE the worker's own: the router answers 405
   * to GET /v1/runs (it knows the path for POST), and the dashboard passes on what it does not serve.
   */
  extraMiddleware?: Middleware[];
  /** Default WORKER_TIMEOUTS (tests shorten them). */
  timeouts?: Partial<ServerTimeouts>;
  log?: Log;
}

export interface WorkerServer {
  url: string;
  port: number;
  runsDir: string;
  runtime: Runtime;
  close(): Promise<void>;
}

/**
 * The worker's own routes (the dashboard's are in dashboard/routes.ts). Exported so that
 * tests can list them: test/security/access-matrix.test.ts fails on a route it does not cover.
 */
export function registerWorkerRoutes(router: Router, runs: Handler): Router {
  return router
    .get('/healthz', (ctx) => { ctx.body = { ok: true }; })
    .post('/v1/runs', runs);
}

export async function startWorkerServer(opts: WorkerServerOptions): Promise<WorkerServer> {
  const log = opts.log ?? defaultLog('worker');
  // However the server is embedded: runc must never see systemd's socket (common/sd-notify.ts).
  takeNotifySocket();
  const runsDir = join(opts.dataDir, 'runs');
  const runtime = new Runtime(opts.runtimeBinary ?? 'runc', join(opts.dataDir, 'runc'));
  await mkdir(runsDir, { recursive: true, mode: 0o700 });
  await mkdir(runtime.root, { recursive: true, mode: 0o700 });
  await recoverLeftovers(runtime, runsDir, log);

  const inflight = new Set<Promise<unknown>>();
  const active = new Set<AbortController>();
  const runner = new Runner({ runsDir, runtime, hostLimits: hostHardLimits(), log });
  const router = registerWorkerRoutes(new Router(), runsHandler({ authenticator: opts.authenticator, provider: opts.provider, scripts: opts.scripts, runner, hooks: opts.hooks, log, inflight, active }));
  const app = createApp({ name: 'worker', log });
  for (const m of opts.extraMiddleware ?? []) app.use(m);
  app.use(router.middleware());
  let listening: Listening;
  try {
    listening = await listenHttps(app, { host: opts.host, port: opts.port, tls: opts.tls, timeouts: { ...WORKER_TIMEOUTS, ...opts.timeouts } });
  } catch (err) {
    await opts.provider.close();
    throw err;
  }
  return {
    url: urlFor(opts.host, listening.port),
    port: listening.port,
    runsDir,
    runtime,
    async close() {
      // Cancel the runs (their clients get an error line), wait for their cleanup, then close.
      for (const cancel of active) cancel.abort(SHUTDOWN);
      await Promise.race([Promise.allSettled([...inflight]), sleep(SHUTDOWN_GRACE_MS, undefined, { ref: false })]);
      await listening.close();
      await Promise.allSettled([...inflight]);
    },
  };
}
