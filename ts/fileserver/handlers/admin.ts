// POST /v1/admin/gc {graceSeconds?: number (default 86400), dryRun?: boolean} → GcReport.
// Admin tokens only. Runs inside the server because only there can it be serialised with
// commits and publishes (gc-lock.ts).
import { BadRequestError, ForbiddenError } from '../../common/errors.js';
import { readJsonBody, type Router } from '../../common/server.js';
import { currentUser } from '../auth.js';
import type { FileserverContext } from '../context.js';
import { collectGarbage } from '../gc.js';

export const DEFAULT_GC_GRACE_SECONDS = 24 * 3600;

export function registerAdminRoutes(router: Router, fs: FileserverContext): void {
  router.post('/v1/admin/gc', async (ctx) => {
    const user = currentUser(ctx);
    if (user.role !== 'admin') throw new ForbiddenError('garbage collection needs an admin token');
    const body = await readJsonBody<{ graceSeconds?: unknown; dryRun?: unknown } | null>(ctx, 64 * 1024);
    const grace = body?.graceSeconds ?? DEFAULT_GC_GRACE_SECONDS;
    if (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0) throw new BadRequestError('graceSeconds must be a number ≥ 0');
    ctx.body = await collectGarbage(fs, { graceMs: grace * 1000, dryRun: body?.dryRun === true });
  });
}
