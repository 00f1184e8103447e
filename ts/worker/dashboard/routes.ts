// The worker's read-only HTTP surface, as one koa middleware:
//   GET /                  the dashboard page (static, public: it holds no data and no token)
//   GET /dashboard/app.js  its script; GET /dashboard/app.css  its styles
//   GET /v1/runs?limit=N   {viewer, runs}: recent runs, newest first (bearer token; a user
//                          sees their own runs, an admin all of them); N is 1..1000, default 50
//   GET /v1/runs/:id       one run: the owner's or an admin's, else 404
//   GET /metrics           Prometheus text; an admin or worker token (see access.ts)
// Anything else (POST /v1/runs included) falls through to next(), so this middleware can
// be mounted before or after the worker's own routes.
// Errors are thrown as SwayErrors; the app's error mapper (common/server.ts) answers them.
// Deliberately does not: write the run log, or decide what a token means (authenticate is given).
import type { Context, Middleware, Next } from 'koa';
import { bearerToken, Router } from '../../common/server.js';
import { AuthError, BadRequestError, NotFoundError } from '../../common/errors.js';
import { MAX_RECENT, type RunLog } from '../run-log.js';
import type { WorkerMetrics } from '../metrics.js';
import { assertMayScrapeMetrics, maySeeRun, runFilterFor, toViewer, type Identity, type Viewer } from './access.js';
import { DASHBOARD_ASSETS, DASHBOARD_CSP } from './assets.js';

export interface DashboardOptions {
  runLog: Pick<RunLog, 'recent' | 'get'>;
  metrics: Pick<WorkerMetrics, 'metricsText' | 'contentType'>;
  /** Token → caller; throws AuthError for an unknown token. The worker's Authenticator fits. */
  authenticate: (token: string, client: string) => Promise<Identity>;
}

export const DEFAULT_RUNS_LIMIT = 50;

export function dashboardMiddleware(opts: DashboardOptions): Middleware {
  const router = registerDashboardRoutes(new Router(), opts);
  const dispatch = router.middleware();
  // Only reads: POST /v1/runs (same path) belongs to the worker's own router.
  return async (ctx: Context, next: Next) => (ctx.method === 'GET' || ctx.method === 'HEAD' ? dispatch(ctx, next) : next());
}

/**
 * Every dashboard route, on `router` (GET; HEAD follows GET). Exported so that tests can
 * list the routes (test/security/access-matrix.test.ts fails on a route it does not cover).
 */
export function registerDashboardRoutes(router: Router, opts: DashboardOptions): Router {
  const viewerOf = async (ctx: Context): Promise<Viewer> => {
    const token = bearerToken(ctx);
    if (!token) throw new AuthError('missing bearer token');
    const viewer = toViewer(await opts.authenticate(token, ctx.ip));
    // For the request log (common/server.ts prints this name, never the token).
    (ctx.state as { user?: { name: string } }).user = { name: viewer.user };
    return viewer;
  };

  for (const [path, asset] of Object.entries(DASHBOARD_ASSETS)) {
    if (!asset) continue;
    router.get(path, (ctx) => {
      ctx.type = asset.type;
      ctx.set('content-security-policy', DASHBOARD_CSP);
      ctx.set('x-content-type-options', 'nosniff');
      ctx.set('referrer-policy', 'no-referrer');
      ctx.set('cache-control', 'no-cache');
      ctx.body = asset.body;
    });
  }

  router.get('/v1/runs', async (ctx) => {
    const viewer = await viewerOf(ctx);
    const limit = parseLimit(ctx.query.limit);
    noStore(ctx);
    ctx.body = { viewer, runs: opts.runLog.recent(limit, runFilterFor(viewer)) };
  });

  router.get('/v1/runs/:id', async (ctx, { id }) => {
    const viewer = await viewerOf(ctx);
    const run = opts.runLog.get(id!);
    if (!run || !maySeeRun(viewer, run)) throw new NotFoundError(`no run ${id}`);
    noStore(ctx);
    ctx.body = run;
  });

  router.get('/metrics', async (ctx) => {
    assertMayScrapeMetrics(await viewerOf(ctx));
    noStore(ctx);
    ctx.type = opts.metrics.contentType;
    ctx.body = await opts.metrics.metricsText();
  });
  return router;
}

function parseLimit(raw: unknown): number {
  if (raw === undefined) return DEFAULT_RUNS_LIMIT;
  const s = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  if (typeof s !== 'string' || !/^\d{1,7}$/.test(s) || Number(s) < 1 || Number(s) > MAX_RECENT) {
    throw new BadRequestError(`limit must be a whole number from 1 to ${MAX_RECENT}`);
  }
  return Number(s);
}

function noStore(ctx: Context): void {
  ctx.set('cache-control', 'no-store');
}
