// Start profiles: the blobs a run of an image read, in first-access order, and the chunk
// runs it read of files fetched by chunk, so that the next cold start of that image on
// any worker can stream them (POST /v1/blobs/fetch-batch, Range requests) instead of one
// request per file or per chunk as the app asks for them.
//   GET /v1/profiles/:id   {id, hashes, sizes, chunks: [{hash, runs: [[first, count]…]}…],
//                          updatedAt}; 404 when there is none
//   PUT /v1/profiles/:id   {hashes, chunks?}: merged into the stored profile (stored order
//                          first, new blobs appended; chunk runs united per blob), capped
//                          at MAX_PROFILE_HASHES and MAX_PROFILE_CHUNK_RUNS → {id, hashes, chunks}
// A profile is the caller's own: one per (image, user), so users who export the same image
// never see or steer each other's. The worker reads and writes a run's profile with the run
// user's token; a worker token has none (403). A user may have a profile of an image whose
// manifest blob they uploaded (else the 404 of an absent image), and it holds only blobs they
// may read: every hash of a PUT must be a file of the image's manifest that the caller owns,
// and every chunk run within a chunked file of it (400 otherwise), and a GET answers only for
// blobs the caller may read, so a profile never tells what another user holds, nor its size.
// Not under /v1/images/: that prefix takes a whole `user/name:tag` as its path, and a name
// like `alice/profile` would be ambiguous.
// Deliberately does not: fetch blobs. (GC drops an image's profiles with its manifest blob.)
import { BadRequestError, ForbiddenError, LimitError, NotFoundError, SwayError } from '../../common/errors.js';
import { isHash } from '../../common/hash.js';
import { isChunkRunsList, type ChunkRuns } from '../../common/start-profile.js';
import { readJsonBody, type Router } from '../../common/server.js';
import { canReadBlob, currentUser, readableBlobs } from '../auth.js';
import type { FileserverContext } from '../context.js';
import type { User } from '../db.js';

/** Hashes kept per profile: far more than an app opens at start, small enough to send in one batch. */
export const MAX_PROFILE_HASHES = 4096;
/** Chunk runs kept per profile (a run is one Range request when prefetched). */
export const MAX_PROFILE_CHUNK_RUNS = 4096;
const CAPS = { hashes: MAX_PROFILE_HASHES, chunkRuns: MAX_PROFILE_CHUNK_RUNS };

export class ProfileInvalidError extends SwayError {
  constructor(message: string) { super('SWAY_PROFILE_INVALID', message, 400); this.name = 'ProfileInvalidError'; }
}

export function registerProfileRoutes(router: Router, fs: FileserverContext): void {
  router.get('/v1/profiles/:id', async (ctx, { id }) => {
    const user = currentUser(ctx);
    requireImageAccess(fs, user, id!);
    const profile = fs.db.getProfile(id!, user.name);
    if (!profile) throw new NotFoundError(`image ${id} has no start profile yet`);
    // Stored profiles hold only readable blobs (PUT); checked again, as GC may have taken one since.
    const readable = readableBlobs(fs, user, [...profile.hashes, ...profile.chunks.map((c) => c.hash)]);
    const hashes = profile.hashes.filter((h) => readable.has(h));
    const chunks = profile.chunks.filter((c) => readable.has(c.hash));
    // Sizes too (0: deleted meanwhile), so a worker can stream the blobs before it has the
    // manifest; the stats also bring the blobs' inodes into memory for the batch that follows.
    const sizes = await Promise.all(hashes.map(async (h) => (await fs.store.stat(h))?.size ?? 0));
    ctx.set('cache-control', 'no-store');
    ctx.body = { id, hashes, sizes, chunks, updatedAt: profile.updatedAt };
  });

  router.put('/v1/profiles/:id', async (ctx, { id }) => {
    const user = currentUser(ctx);
    requireImageAccess(fs, user, id!);
    const body = await readJsonBody<{ hashes?: unknown; chunks?: unknown }>(ctx, 2 * 1024 * 1024);
    const hashes = body?.hashes;
    const chunks = body?.chunks ?? [];
    if (!Array.isArray(hashes) || !hashes.every(isHash) || !isChunkRunsList(chunks)) {
      throw new ProfileInvalidError('profile body must be {"hashes": [sha256 hex…], "chunks": [{"hash", "runs": [[first, count]…]}…]}');
    }
    if (hashes.length > MAX_PROFILE_HASHES) throw new LimitError(`at most ${MAX_PROFILE_HASHES} hashes per profile`, 413);
    if (chunks.reduce((n, c) => n + c.runs.length, 0) > MAX_PROFILE_CHUNK_RUNS) throw new LimitError(`at most ${MAX_PROFILE_CHUNK_RUNS} chunk runs per profile`, 413);
    if (!(await fs.store.stat(id!))) throw new NotFoundError(`image ${id} not found`);
    const { manifest } = await fs.manifests.get(id!);
    // One answer for "not in the image", "nobody holds it" and "someone else holds it".
    const readable = readableBlobs(fs, user, [...hashes as string[], ...chunks.map((c) => c.hash)]);
    const inImage = new Set<string>();
    for (const e of manifest.entries) if (e.type === 'file' && e.hash && readable.has(e.hash)) inImage.add(e.hash);
    const foreign = (hashes as string[]).filter((h) => !inImage.has(h));
    if (foreign.length) throw new ProfileInvalidError(`${foreign.length} hash(es) of the profile are not files of image ${id} that you may read (first: ${foreign[0]})`);
    // Chunk runs only of files the image fetches by chunk, within their chunk count.
    for (const { hash, runs } of chunks) {
      const count = readable.has(hash) ? manifest.chunks?.byBlob[hash]?.length : undefined;
      if (count === undefined) throw new ProfileInvalidError(`blob ${hash} of the profile's chunks is not a file of image ${id} fetched by chunk that you may read`);
      const bad = runs.find(([first, n]) => first + n > count);
      if (bad) throw new ProfileInvalidError(`chunk run [${bad[0]}, ${bad[1]}] of blob ${hash} is past its ${count} chunks`);
    }
    const stored = fs.db.mergeProfile(id!, user.name, hashes as string[], chunks, CAPS);
    ctx.body = { id, hashes: stored.hashes, chunks: stored.chunks };
  });
}

/**
 * `owner`'s name moved from image `fromId` to `toId`, of which they have no profile yet:
 * give them their profile of the old image, translated by path (a re-export usually
 * changes a few files, and the app reads the same paths at start), so the new image's
 * first cold start is prefetched too. Blobs at paths that are gone or not regular files
 * any more are left out; chunk runs are kept for paths still fetched by chunk, clipped to
 * the new chunk count. Publishing checked that `owner` owns every blob of `toId`. Returns
 * the number of blobs carried over; never throws (a profile is an optimisation).
 */
export async function carryProfileOver(fs: FileserverContext, fromId: string, toId: string, owner: string): Promise<number> {
  try {
    if (fromId === toId || fs.db.getProfile(toId, owner)) return 0;
    const old = fs.db.getProfile(fromId, owner);
    if (!old) return 0;
    const [from, to] = [await fs.manifests.get(fromId), await fs.manifests.get(toId)];
    const pathOf = new Map<string, string>();
    for (const e of from.manifest.entries) if (e.type === 'file' && e.hash && !pathOf.has(e.hash)) pathOf.set(e.hash, e.path);
    const newHashAt = (hash: string): string | undefined => {
      const path = pathOf.get(hash);
      const e = path === undefined ? undefined : to.byPath.get(path);
      return e?.type === 'file' && e.hash && e.size > 0 ? e.hash : undefined;
    };
    const hashes = [...new Set(old.hashes.map(newHashAt).filter((h): h is string => h !== undefined))];
    const chunks: ChunkRuns[] = [];
    for (const { hash, runs } of old.chunks) {
      const moved = newHashAt(hash);
      const count = moved === undefined ? undefined : to.manifest.chunks?.byBlob[moved]?.length;
      if (moved === undefined || count === undefined) continue;
      const clipped = runs.filter(([first]) => first < count).map(([first, n]): [number, number] => [first, Math.min(n, count - first)]);
      if (clipped.length) chunks.push({ hash: moved, runs: clipped });
    }
    if (!hashes.length && !chunks.length) return 0;
    fs.db.mergeProfile(toId, owner, hashes, chunks, CAPS);
    return hashes.length;
  } catch (err) {
    fs.log(`start profile of image ${fromId.slice(0, 12)} not carried over to ${toId.slice(0, 12)}: ${(err as Error).message}`);
    return 0;
  }
}

function requireImageAccess(fs: FileserverContext, user: User, id: string): void {
  // A worker acts for many users: it must say for whom by using that user's token.
  if (user.role === 'worker') throw new ForbiddenError('a worker token has no start profiles: they are read and written with the run user\'s token');
  if (!isHash(id)) throw new BadRequestError(`not an image id (sha256 hex): ${JSON.stringify(id)}`);
  // Admins read every manifest; a user, only one they uploaded.
  if (!canReadBlob(fs, user, id)) throw new NotFoundError(`image ${id} not found`);
}
