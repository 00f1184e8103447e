// Who is asking, and what they may see. Every route but /healthz needs a bearer token.
//
// Rules: a `user` (or `admin`) reads only blobs they uploaded, and only their own image
// names and scripts; a `worker` serves every user, so it reads any blob, manifest, name
// and script, but writes nothing. Things a caller may not read answer 404, exactly like
// things that do not exist, so probing reveals nothing.
// Deliberately does not: rate-limit or expire tokens.
import type { Context, Middleware, Next } from 'koa';
import { AuthError, ForbiddenError, NotFoundError, SwayError } from '../common/errors.js';
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

/** canReadBlob for many hashes at once (one statement): the ones the caller may read. */
export function readableBlobs(fs: FileserverContext, user: User, hashes: Iterable<string>): Set<string> {
  return readsEverything(user) ? new Set(hashes) : fs.db.ownedOf(user.name, hashes);
}

/**
 * An image reference (a name, with the caller's user and `latest` filled in, or an id)
 * → its id and name, if the caller may use it; otherwise NotFoundError.
 *
 * By id, owning the manifest blob is not enough: a worker reads an image's files with
 * its own token, so a user who could name any manifest could craft one that lists other
 * users' hashes and read their files in a container. A plain user may use an id only if
 * one of their own names points at it (publishing checked that they own every blob), or
 * if they own every blob the manifest references. A blob that does not decode as a
 * manifest is not an image: 404, like an unknown id.
 */
export async function resolveImageRef(fs: FileserverContext, user: User, ref: string): Promise<{ id: string; name: string | null }> {
  if (isHash(ref)) {
    const notFound = () => new NotFoundError(`image ${ref} not found`);
    if (!canReadBlob(fs, user, ref)) throw notFound();
    const name = fs.db.nameForId(user.name, ref) ?? null;
    if (!readsEverything(user) && name === null && !(await ownsEveryBlobOf(fs, user, ref))) throw notFound();
    return { id: ref, name };
  }
  const parsed = parseImageName(ref, user.name);
  const row = parsed.user === user.name || readsEverything(user) ? fs.db.getImage(parsed.full) : undefined;
  if (!row) throw new NotFoundError(`image ${parsed.full} not found`);
  return { id: row.id, name: parsed.full };
}

/** Does `user` own every blob the manifest `id` references? False if it is no manifest. */
async function ownsEveryBlobOf(fs: FileserverContext, user: User, id: string): Promise<boolean> {
  let entries;
  try {
    entries = (await fs.manifests.get(id)).manifest.entries;
  } catch (err) {
    if (!(err instanceof SwayError) || err.status >= 500) throw err;
    return false; // not a manifest (or gone): not an image this user can use
  }
  const hashes = new Set<string>();
  for (const e of entries) if (e.hash) hashes.add(e.hash);
  return fs.db.ownsAll(user.name, hashes);
}
