// Who is asking, and what they may see. Every route but /healthz needs a bearer token.
//
// Rules: a `user` (or `admin`) reads only blobs they uploaded, and only their own image
// names and scripts; a `worker` serves every user, so it reads any blob, manifest, name
// and script, but writes nothing. Things a caller may not read answer 404, exactly like
// things that do not exist, so probing reveals nothing.
// Deliberately does not: rate-limit or expire tokens.
import type { Context, Middleware, Next } from 'koa';
import { AuthError, ForbiddenError, NotFoundError } from '../common/errors.js';
import { bearerToken } from '../common/server.js';
import { isHash } from '../common/hash.js';
import { parseImageName } from '../common/protocol.js';
import type { FileserverDb, User } from './db.js';
import type { FileserverContext } from './context.js';

const PUBLIC_PATHS = new Set(['/healthz']);

export function authenticate(db: FileserverDb): Middleware {
  return async (ctx: Context, next: Next) => {
    if (!PUBLIC_PATHS.has(ctx.path)) {
      const token = bearerToken(ctx);
      if (!token) throw new AuthError('missing bearer token (Authorization: Bearer <token>)');
      const user = db.userByToken(token);
      if (!user) throw new AuthError('invalid token');
      ctx.state.user = user;
    }
    await next();
  };
}

export function currentUser(ctx: Context): User {
  const user = ctx.state.user as User | undefined;
  if (!user) throw new AuthError();
  return user;
}

/** Workers (and admins) serve every user: read access to everything. */
export function readsEverything(user: User): boolean {
  return user.role === 'worker' || user.role === 'admin';
}

export function requireWriter(user: User): void {
  if (user.role === 'worker') throw new ForbiddenError('a worker token cannot upload or publish');
}

export function canReadBlob(fs: FileserverContext, user: User, hash: string): boolean {
  return readsEverything(user) || fs.db.ownsBlob(user.name, hash);
}

/**
 * An image reference (a name, with the caller's user and `latest` filled in, or an id)
 * → its id and name, if the caller may see it; otherwise NotFoundError.
 */
export function resolveImageRef(fs: FileserverContext, user: User, ref: string): { id: string; name: string | null } {
  if (isHash(ref)) {
    if (!canReadBlob(fs, user, ref)) throw new NotFoundError(`image ${ref} not found`);
    return { id: ref, name: fs.db.nameForId(user.name, ref) ?? null };
  }
  const parsed = parseImageName(ref, user.name);
  const row = parsed.user === user.name || readsEverything(user) ? fs.db.getImage(parsed.full) : undefined;
  if (!row) throw new NotFoundError(`image ${parsed.full} not found`);
  return { id: row.id, name: parsed.full };
}
