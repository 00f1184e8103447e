// GET /healthz (no auth: for probes) and GET /v1/whoami ({user, role} of the token).
import type { Router } from '../../common/server.js';
import { currentUser } from '../auth.js';

export function registerMiscRoutes(router: Router): void {
  router.get('/healthz', (ctx) => { ctx.set('cache-control', 'no-store'); ctx.body = { ok: true }; });
  router.get('/v1/whoami', (ctx) => {
    const user = currentUser(ctx);
    ctx.body = { user: user.name, role: user.role };
  });
}
