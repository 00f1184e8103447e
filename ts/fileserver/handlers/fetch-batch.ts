// POST /v1/blobs/fetch-batch: {hashes: […], encodings?: ['gzip']} → one response of frames,
// {hash, size} then the bytes for each blob the caller may read ({hash, size, encoding:
// 'gzip', decodedSize} then the gzip copy's bytes when the caller takes gzip and a copy
// exists, store/gzip-variants.ts), {hash, size: 0, missing: true} for the
// others (absent or not theirs: indistinguishable). Lets a worker prefetch thousands of
// small files in one round trip. Blobs stream from disk one after another.
import { Readable } from 'node:stream';
import { BadRequestError, LimitError, NotFoundError } from '../../common/errors.js';
import { isHash } from '../../common/hash.js';
import { CONTENT_TYPES, encodeFrameHeader } from '../../common/protocol.js';
import { readJsonBody, type Router } from '../../common/server.js';
import { canReadBlob, currentUser } from '../auth.js';
import type { FileserverContext } from '../context.js';
import type { User } from '../db.js';
import { GzipVariants } from '../store/gzip-variants.js';

export function registerFetchBatchRoute(router: Router, fs: FileserverContext): void {
  router.post('/v1/blobs/fetch-batch', async (ctx) => {
    const user = currentUser(ctx);
    const body = await readJsonBody<{ hashes?: unknown; encodings?: unknown } | unknown[]>(ctx, fs.limits.maxJsonBytes);
    const hashes = Array.isArray(body) ? body : body?.hashes;
    const gzip = !Array.isArray(body) && Array.isArray(body?.encodings) && body.encodings.includes('gzip');
    if (!Array.isArray(hashes) || !hashes.every(isHash)) throw new BadRequestError('fetch-batch body must be {"hashes": [sha256 hex…]}');
    if (hashes.length > fs.limits.maxHashesPerFetch) throw new LimitError(`at most ${fs.limits.maxHashesPerFetch} hashes per fetch-batch`, 413);
    ctx.type = CONTENT_TYPES.frames;
    ctx.set('cache-control', 'no-store');
    ctx.body = Readable.from(frames(fs, user, hashes as string[], gzip), { objectMode: false });
  });
}

async function* frames(fs: FileserverContext, user: User, hashes: string[], acceptsGzip: boolean): AsyncGenerator<Buffer> {
  for (const hash of hashes) {
    const st = canReadBlob(fs, user, hash) ? await fs.store.stat(hash) : null;
    // The gzip copy when the caller takes gzip and one exists; else the plain blob (and a copy is asked for).
    const copy = st && acceptsGzip ? await fs.gzip?.forClient(hash, st.size) : undefined;
    let stream: Readable | undefined;
    if (st) {
      try { stream = copy ? GzipVariants.read(copy.path) : await fs.store.read(hash); } catch (err) { if (!(err instanceof NotFoundError)) throw err; }
    }
    if (!st || !stream) { yield encodeFrameHeader({ hash, size: 0, missing: true }); continue; }
    const size = copy ? copy.size : st.size;
    yield encodeFrameHeader(copy ? { hash, size, encoding: 'gzip', decodedSize: st.size } : { hash, size });
    let sent = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      sent += chunk.length;
      yield chunk;
    }
    // Blobs never change size; if one did, cut the response rather than send bad frames.
    if (sent !== size) throw new Error(`blob ${hash} changed size while being sent`);
  }
}
