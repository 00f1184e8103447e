// Who may read what on the worker's read-only endpoints. Kept apart from the routes so
// the rules are in one place and easy to test.
//   - a 'user' sees only their own runs; another user's run is answered 404, the same as
//     an unknown id, so run ids of others cannot be probed;
//   - an 'admin' sees every run;
//   - /metrics is for 'admin' and 'worker' tokens (the monitoring system scrapes with a
//     worker or admin token): the figures are worker-wide, not any one user's business.
// Deliberately does not: authenticate tokens (the worker's Authenticator does).
import { AuthError, ForbiddenError } from '../../common/errors.js';

/** The caller as the authenticator answered: `name` (the worker's WorkerUser) or `user`. */
export type Identity = { role: string } & ({ name: string } | { user: string });

export interface Viewer { user: string; role: string }

export const METRICS_ROLES: readonly string[] = ['admin', 'worker'];

export function toViewer(id: Identity): Viewer {
  const user = 'name' in id ? id.name : id.user;
  if (typeof user !== 'string' || !user) throw new AuthError('the token has no user');
  return { user, role: id.role };
}

/** The user filter for the run list: undefined (all runs) for an admin. */
export function runFilterFor(viewer: Viewer): string | undefined {
  return viewer.role === 'admin' ? undefined : viewer.user;
}

export function maySeeRun(viewer: Viewer, run: { user: string }): boolean {
  return viewer.role === 'admin' || run.user === viewer.user;
}

export function assertMayScrapeMetrics(viewer: Viewer): void {
  if (!METRICS_ROLES.includes(viewer.role)) {
    throw new ForbiddenError(`/metrics needs an ${METRICS_ROLES.join(' or ')} token; ${viewer.user} has role ${viewer.role}`);
  }
}
