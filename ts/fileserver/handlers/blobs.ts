// GET/HEAD /v1/blobs/:hash and PUT /v1/blobs/:hash.
// Blobs are immutable, so responses are cacheable forever and carry ETag = the hash;
// single Range requests get 206 (416 when out of bounds); a client that accepts gzip gets
// the blob's gzip copy when one exists (store/gzip-variants.ts). A caller who may not read a
// blob gets the same 404 as for a blob that does not exist. A PUT answers 201 when the
// caller did not own the blob before, 200 when they did, whatever other users hold.
import type { Context } from 'koa';
import { BadRequestError, NotFoundError, SwayError } from '../../common/errors.js';
import { isHash } from '../../common/hash.js';
import type { Router } from '../../common/server.js';
import { canReadBlob, currentUser, requireWriter } from '../auth.js';
import { commitOwned, type FileserverContext } from '../context.js';
import { parseRange } from './range.js';
import { receiveBlob } from './receive-blob.js';
import { GzipVariants } from '../store/gzip-variants.js';

export const IMMUTABLE = 'public, max-age=31536000, immutable';

export function registerBlobRoutes(router: Router, fs: FileserverContext): void {
  router.get('/v1/blobs/:hash', async (ctx, { hash }) => {
    const user = currentUser(ctx);
    requireHash(hash!);
    if (!canReadBlob(fs, user, hash!)) throw new NotFoundError(`blob ${hash} not found`);
    await sendBlob(fs, ctx, hash!);
  });

  router.put('/v1/blobs/:hash', async (ctx, { hash }) => {
    const user = currentUser(ctx);
    requireWriter(user);
    requireHash(hash!);
    // 200 vs 201 says whether the CALLER had it already, never whether someone else did:
    // the store's own answer would tell an uploader that another user holds these bytes.
    const hadIt = fs.db.ownsBlob(user.name, hash!);
    const { size } = await receiveBlob(fs.store, ctx, hash!, fs.limits.maxBodyBytes, (w) => commitOwned(fs, user.name, w));
    ctx.status = hadIt ? 200 : 201;
    ctx.body = { hash, size };
  });
}

export function requireHash(hash: string): void {
  if (!isHash(hash)) throw new BadRequestError(`not a sha256 hash: ${JSON.stringify(hash)} (64 lowercase hex digits)`);
}

/** Send a stored blob with caching headers, honouring Range and If-None-Match. */
export async function sendBlob(fs: FileserverContext, ctx: Context, hash: string, cacheControl = IMMUTABLE): Promise<void> {
  const st = await fs.store.stat(hash);
  if (!st) throw new NotFoundError(`blob ${hash} not found`);
  const etag = `"${hash}"`;
  ctx.set('etag', etag);
  ctx.set('cache-control', cacheControl);
  ctx.set('accept-ranges', 'bytes');
  ctx.type = 'application/octet-stream';
  const inm = ctx.get('if-none-match');
  if (inm && (inm === '*' || inm.split(',').map((s) => s.trim().replace(/^W\//, '')).includes(etag))) {
    ctx.status = 304;
    return;
  }
  // Whole-blob GETs from clients that accept gzip get the stored gzip copy (its own ETag),
  // or the plain bytes while the copy is being made. Ranges and HEAD stay plain.
  if (fs.gzip && ctx.method === 'GET' && !ctx.get('range')) {
    ctx.vary('accept-encoding');
    if (ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      const copy = await fs.gzip.forClient(hash, st.size);
      if (copy) {
        ctx.set('etag', `"${hash}-gzip"`);
        ctx.set('content-encoding', 'gzip');
        ctx.set('x-sway-decoded-length', String(st.size));
        ctx.status = 200;
        ctx.body = GzipVariants.read(copy.path);
        ctx.length = copy.size;
        return;
      }
    }
  }
  const range = parseRange(ctx.get('range') || undefined, st.size);
  if (range.kind === 'unsatisfiable') {
    ctx.set('content-range', `bytes */${st.size}`);
    throw new SwayError('SWAY_RANGE', `range not satisfiable for a blob of ${st.size} bytes`, 416);
  }
  if (range.kind === 'partial') {
    ctx.status = 206;
    ctx.set('content-range', `bytes ${range.range.start}-${range.range.end}/${st.size}`);
  } else {
    ctx.status = 200;
  }
  const length = range.kind === 'partial' ? range.range.end - range.range.start + 1 : st.size;
  if (ctx.method === 'HEAD') {
    ctx.length = length;
    return;
  }
  ctx.body = await fs.store.read(hash, range.kind === 'partial' ? range.range : undefined);
  ctx.length = length;
}
