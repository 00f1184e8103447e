// Test fixture: a real koa HTTPS app on 127.0.0.1:0, as the worker builds it (createApp's
// error mapping and request log), mounting only the dashboard middleware over a RunLog
// in a temp dir. Four tokens: alice and bob (users), root (admin), scraper (worker).
// Everything is closed and removed after the test.
import { randomBytes, createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createApp, WORKER_TIMEOUTS, listenHttps, urlFor } from '../../ts/common/server.js';
import { ensureTlsMaterial, type TlsMaterial } from '../../ts/common/tls.js';
import { AuthError } from '../../ts/common/errors.js';
import { RunLog, type RunStart, type RunFinish } from '../../ts/worker/run-log.js';
import { WorkerMetrics } from '../../ts/worker/metrics.js';
import { dashboardMiddleware } from '../../ts/worker/dashboard/routes.js';
import { makeTempDir } from '../helpers/tmp.js';

export interface DashboardServer {
  url: string;
  tls: TlsMaterial;
  runLog: RunLog;
  metrics: WorkerMetrics;
  tokens: { alice: string; bob: string; admin: string; worker: string };
  /** Every request's method + URL as the server saw it (query included), for leak checks. */
  seen: string[];
  /** The request log lines createApp wrote. */
  logLines: string[];
  /** Insert a finished (or, with fin undefined, running) run. */
  addRun(start: Partial<RunStart> & { id: string; user: string }, fin?: Partial<RunFinish>): void;
}

export async function startDashboardServer(t: TestContext): Promise<DashboardServer> {
  const dir = await makeTempDir(t, 'dashboard-');
  const tls = ensureTlsMaterial(join(dir, 'tls'));
  const runLog = new RunLog(join(dir, 'runs.db'));
  const metrics = new WorkerMetrics({ processMetrics: false });
  const token = () => randomBytes(16).toString('hex');
  const tokens = { alice: token(), bob: token(), admin: token(), worker: token() };
  const identities = new Map([
    [tokens.alice, { name: 'alice', role: 'user' }],
    [tokens.bob, { name: 'bob', role: 'user' }],
    [tokens.admin, { name: 'root', role: 'admin' }],
    [tokens.worker, { name: 'scraper', role: 'worker' }],
  ]);
  const seen: string[] = [];
  const logLines: string[] = [];
  const app = createApp({ name: 'worker', log: (line) => logLines.push(line) });
  app.use(async (ctx, next) => { seen.push(`${ctx.method} ${ctx.url}`); await next(); });
  app.use(dashboardMiddleware({
    runLog, metrics,
    authenticate: async (tok) => {
      const id = identities.get(tok);
      if (!id) throw new AuthError('invalid token');
      return id;
    },
  }));
  const listening = await listenHttps(app, { host: '127.0.0.1', port: 0, tls, timeouts: WORKER_TIMEOUTS });
  t.after(async () => { await listening.close(); runLog.close(); });

  return {
    url: urlFor('127.0.0.1', listening.port),
    tls, runLog, metrics, tokens, seen, logLines,
    addRun(start, fin) {
      runLog.start({ image: `${start.user}/app:latest`, imageId: 'f'.repeat(64), script: 'c'.repeat(64), command: ['python3', 'app.py'], startedAt: Date.now(), ...start });
      if (fin) {
        runLog.finish(start.id, { durationMs: 1000, exitStatus: 0, state: 'exited', memoryHits: 0, diskHits: 0, serverFetches: 0, bytesFetched: 0, ...fin });
      }
    },
  };
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo (Chromium's --ignore-certificate-errors-spki-list). */
export function spkiHash(certPath: string): string {
  const spki = new X509Certificate(readFileSync(certPath)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
