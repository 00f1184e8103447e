// Start profiles: the blobs a run of an image read, in first-access order, so that the
// next cold start of that image on any worker can stream them in a few batches
// (POST /v1/blobs/fetch-batch) instead of one request per file as the app opens them.
//   GET /v1/profiles/:id   {id, hashes, sizes, updatedAt}; 404 when there is none
//   PUT /v1/profiles/:id   {hashes}: merged into the stored profile (stored order first,
//                          new hashes appended), capped at MAX_PROFILE_HASHES → {id, hashes}
// Who: workers (they record profiles for every user's runs), admins, and users who own the
// image's manifest blob (uploaded it). Anyone else gets the 404 of an absent image, so a
// profile reveals nothing a caller could not already read. Every hash of a PUT must be a
// file blob of the image's manifest (400 otherwise): a profile can never make a worker
// fetch anything the image does not contain.
// Not under /v1/images/: that prefix takes a whole `user/name:tag` as its path, and a name
// like `alice/profile` would be ambiguous.
// Deliberately does not: fetch blobs, or drop profiles of deleted images (a few KB each).
import { BadRequestError, LimitError, NotFoundError, SwayError } from '../../common/errors.js';
import { isHash } from '../../common/hash.js';
import { readJsonBody, type Router } from '../../common/server.js';
import { canReadBlob, currentUser } from '../auth.js';
import type { FileserverContext } from '../context.js';
import type { User } from '../db.js';

/** Hashes kept per image: far more than an app opens at start, small enough to send in one batch. */
export const MAX_PROFILE_HASHES = 4096;

export class ProfileInvalidError extends SwayError {
  constructor(message: string) { super('SWAY_PROFILE_INVALID', message, 400); this.name = 'ProfileInvalidError'; }
}

export function registerProfileRoutes(router: Router, fs: FileserverContext): void {
  router.get('/v1/profiles/:id', async (ctx, { id }) => {
    requireImageAccess(fs, currentUser(ctx), id!);
    const profile = fs.db.getProfile(id!);
    if (!profile) throw new NotFoundError(`image ${id} has no start profile yet`);
    // Sizes too (0: no longer stored), so a worker can stream the blobs before it has the
    // manifest; the stats also bring the blobs' inodes into memory for the batch that follows.
    const sizes = await Promise.all(profile.hashes.map(async (h) => (await fs.store.stat(h))?.size ?? 0));
    ctx.set('cache-control', 'no-store');
    ctx.body = { id, hashes: profile.hashes, sizes, updatedAt: profile.updatedAt };
  });

  router.put('/v1/profiles/:id', async (ctx, { id }) => {
    const user = currentUser(ctx);
    requireImageAccess(fs, user, id!);
    const body = await readJsonBody<{ hashes?: unknown }>(ctx, 2 * 1024 * 1024);
    const hashes = body?.hashes;
    if (!Array.isArray(hashes) || !hashes.every(isHash)) throw new ProfileInvalidError('profile body must be {"hashes": [sha256 hex…]}');
    if (hashes.length > MAX_PROFILE_HASHES) throw new LimitError(`at most ${MAX_PROFILE_HASHES} hashes per profile`, 413);
    if (!(await fs.store.stat(id!))) throw new NotFoundError(`image ${id} not found`);
    const { manifest } = await fs.manifests.get(id!);
    const inImage = new Set<string>();
    for (const e of manifest.entries) if (e.type === 'file' && e.hash) inImage.add(e.hash);
    const foreign = (hashes as string[]).filter((h) => !inImage.has(h));
    if (foreign.length) throw new ProfileInvalidError(`${foreign.length} hash(es) of the profile are not files of image ${id} (first: ${foreign[0]})`);
    const stored = fs.db.mergeProfile(id!, hashes as string[], MAX_PROFILE_HASHES, user.name);
    ctx.body = { id, hashes: stored };
  });
}

function requireImageAccess(fs: FileserverContext, user: User, id: string): void {
  if (!isHash(id)) throw new BadRequestError(`not an image id (sha256 hex): ${JSON.stringify(id)}`);
  // Workers and admins read every manifest; a user, only one they uploaded.
  if (!canReadBlob(fs, user, id)) throw new NotFoundError(`image ${id} not found`);
}
