// POST /v1/blobs/fetch-batch: {hashes: […], encodings?: ['gzip']} → one response of frames,
// {hash, size} then the bytes for each blob the caller may read ({hash, size, encoding:
// 'gzip', decodedSize} then the gzip copy's bytes when the caller takes gzip and a copy
// exists, store/gzip-variants.ts), {hash, size: 0, missing: true} for the
// others (absent or not theirs: indistinguishable). Lets a worker prefetch thousands of
// small files in one round trip. Each distinct hash is answered once, in the order first
// asked (the client maps frames to hashes by the frame's hash). Blobs are sent one after
// another, as fast as the client reads; the next few are looked up and, when small, read
// whole meanwhile, so their disk reads overlap the sending. A response holds at most those
// few in memory (~2 MiB), whatever and however much it asks for.
import { readFile } from 'node:fs/promises';
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
    // 67 bytes a hash ("…",), some room for spaces and the encodings: not maxJsonBytes.
    const body = await readJsonBody<{ hashes?: unknown; encodings?: unknown } | unknown[]>(ctx, Math.min(fs.limits.maxJsonBytes, fs.limits.maxHashesPerFetch * 72 + 4096));
    const hashes = Array.isArray(body) ? body : body?.hashes;
    const gzip = !Array.isArray(body) && Array.isArray(body?.encodings) && body.encodings.includes('gzip');
    if (!Array.isArray(hashes) || !hashes.every(isHash)) throw new BadRequestError('fetch-batch body must be {"hashes": [sha256 hex…]}');
    if (hashes.length > fs.limits.maxHashesPerFetch) throw new LimitError(`at most ${fs.limits.maxHashesPerFetch} hashes per fetch-batch`, 413);
    ctx.type = CONTENT_TYPES.frames;
    ctx.set('cache-control', 'no-store');
    ctx.body = Readable.from(frames(fs, user, [...new Set(hashes as string[])], gzip), { objectMode: false });
  });
}

/** Blobs made ready (looked up, small ones read) ahead of the one being sent: their disk reads overlap. */
const PREPARE_AHEAD = 8;
/** Blobs (or gzip copies) up to this size are read whole while earlier ones are sent; larger ones stream. */
const READ_WHOLE_BYTES = 256 * 1024;

/** One blob's frame: its header, and its bytes (read whole) or where to stream them from. */
interface PreparedFrame { header: Buffer; size: number; bytes?: Buffer; open?: () => Promise<Readable> }

async function* frames(fs: FileserverContext, user: User, hashes: string[], acceptsGzip: boolean): AsyncGenerator<Buffer> {
  // The frames being prepared, next first; each leaves once it is sent (so does its memory).
  const ahead: Promise<PreparedFrame>[] = [];
  let queued = 0;
  for (const hash of hashes) {
    for (; queued < hashes.length && ahead.length <= PREPARE_AHEAD; queued++) {
      const p = prepareFrame(fs, user, hashes[queued]!, acceptsGzip);
      p.catch(() => {}); // awaited in turn below; a response cut short never awaits the rest
      ahead.push(p);
    }
    const frame = await ahead.shift()!;
    if (frame.bytes) {
      yield frame.header;
      if (frame.bytes.length) yield frame.bytes;
      continue;
    }
    let stream: Readable;
    try { stream = await frame.open!(); } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      yield missingFrame(hash).header; // gone since it was looked up (GC)
      continue;
    }
    yield frame.header;
    let sent = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      sent += chunk.length;
      yield chunk;
    }
    // Blobs never change size; if one did, cut the response rather than send bad frames.
    if (sent !== frame.size) throw new Error(`blob ${hash} changed size while being sent`);
  }
}

/** The frame of a blob the caller does not get (absent, or not theirs: indistinguishable). */
function missingFrame(hash: string): PreparedFrame {
  return { header: encodeFrameHeader({ hash, size: 0, missing: true }), size: 0, bytes: Buffer.alloc(0) };
}

async function prepareFrame(fs: FileserverContext, user: User, hash: string, acceptsGzip: boolean): Promise<PreparedFrame> {
  const st = canReadBlob(fs, user, hash) ? await fs.store.stat(hash) : null;
  if (!st) return missingFrame(hash);
  // The gzip copy when the caller takes gzip and one exists; else the plain blob (and a copy is asked for).
  const copy = acceptsGzip ? await fs.gzip?.forClient(hash, st.size) : undefined;
  const size = copy ? copy.size : st.size;
  const header = encodeFrameHeader(copy ? { hash, size, encoding: 'gzip', decodedSize: st.size } : { hash, size });
  if (size > READ_WHOLE_BYTES) {
    return { header, size, open: async () => (copy ? GzipVariants.read(copy.path) : fs.store.read(hash)) };
  }
  let bytes: Buffer;
  try {
    bytes = copy ? await readFile(copy.path) : await fs.store.readAll(hash, READ_WHOLE_BYTES);
  } catch (err) {
    if (err instanceof NotFoundError || (err as NodeJS.ErrnoException).code === 'ENOENT') return missingFrame(hash);
    throw err;
  }
  if (bytes.length !== size) throw new Error(`blob ${hash} changed size while being sent`);
  return { header, size, bytes };
}
