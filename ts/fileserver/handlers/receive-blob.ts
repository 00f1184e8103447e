// Receiving one blob from a request body, shared by PUT /v1/blobs/:hash and
// PUT /v1/scripts: stream into a store writer (hashed on the way), verify, commit
// durably. Resolves only when the blob is on disk; on any failure nothing is stored.
import type { Context } from 'koa';
import { LimitError } from '../../common/errors.js';
import type { BlobStore, BlobWriter } from '../store/blob-store.js';

/** 413 before reading a byte when the declared length is already over the limit. */
export function declaredLength(ctx: Context, maxBytes: number): number | undefined {
  const raw = ctx.get('content-length');
  if (!raw) return undefined;
  const n = Number(raw);
  if (n > maxBytes) throw new LimitError(`request body of ${n} bytes exceeds the limit of ${maxBytes} bytes`);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export async function receiveBlob(store: BlobStore, ctx: Context, hash: string, maxBytes: number, commit: (writers: BlobWriter[]) => Promise<void>): Promise<{ size: number }> {
  const expectedSize = declaredLength(ctx, maxBytes);
  const writer = await store.createWriter(hash, { expectedSize });
  try {
    let total = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) throw new LimitError(`request body exceeds the limit of ${maxBytes} bytes`);
      await writer.write(chunk);
    }
    const result = await writer.finish();
    await commit([writer]);
    return result;
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
