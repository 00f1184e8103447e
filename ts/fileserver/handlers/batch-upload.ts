// PUT /batch-upload: up to maxFilesPerBatch files as frames ({key, hash, size} header,
// then `size` bytes; ts/common/protocol.ts). Streamed straight into store writers, one
// file at a time, so memory stays flat whatever the batch size. All or nothing: one bad
// frame (hash mismatch, over a limit, truncated body) and no file of the batch is
// stored. The answer comes after every blob of the batch is durable.
import type { Context } from 'koa';
import { BadRequestError, LimitError } from '../../common/errors.js';
import { isHash } from '../../common/hash.js';
import { FrameParser, type FrameHeader } from '../../common/protocol.js';
import type { Router } from '../../common/server.js';
import { currentUser, requireWriter } from '../auth.js';
import type { FileserverContext } from '../context.js';
import type { BlobWriter } from '../store/blob-store.js';
import { declaredLength } from './receive-blob.js';

export function registerBatchUploadRoute(router: Router, fs: FileserverContext): void {
  router.put('/batch-upload', (ctx) => batchUpload(fs, ctx));
}

async function batchUpload(fs: FileserverContext, ctx: Context): Promise<void> {
  const user = currentUser(ctx);
  requireWriter(user);
  const { maxBodyBytes, maxFilesPerBatch, maxPathLength } = fs.limits;
  declaredLength(ctx, maxBodyBytes);

  const writers: BlobWriter[] = [];
  let current: BlobWriter | undefined;
  let files = 0;
  let contentBytes = 0;
  // The parser calls back synchronously; the store is async. Queue, then drain per chunk.
  const ops: (() => Promise<void>)[] = [];
  const parser = new FrameParser({
    header: (h: FrameHeader) => {
      files += 1;
      if (files > maxFilesPerBatch) throw new LimitError(`a batch holds at most ${maxFilesPerBatch} files`, 413);
      if (typeof h.key !== 'string' || h.key.length === 0) throw new BadRequestError(`file ${files} of the batch has no key`);
      if (h.key.length > maxPathLength) throw new LimitError(`key of file ${files} is longer than ${maxPathLength} characters`, 400);
      if (!isHash(h.hash)) throw new BadRequestError(`file ${JSON.stringify(h.key)} has no valid sha256 hash`);
      if (h.size > maxBodyBytes) throw new LimitError(`file ${JSON.stringify(h.key)} declares ${h.size} bytes, above the limit of ${maxBodyBytes}`);
      contentBytes += h.size;
      ops.push(async () => {
        current = await fs.store.createWriter(h.hash, { expectedSize: h.size });
        writers.push(current);
      });
    },
    content: (chunk) => { ops.push(() => current!.write(chunk)); },
    end: () => { ops.push(async () => { await current!.finish(); current = undefined; }); },
  });

  try {
    let total = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBodyBytes) throw new LimitError(`request body exceeds the limit of ${maxBodyBytes} bytes`);
      parser.push(chunk);
      while (ops.length) await ops.shift()!();
    }
    if (!parser.complete) throw new BadRequestError('batch body ended in the middle of a frame');
    await fs.store.commit(writers);
  } catch (err) {
    ops.length = 0;
    await Promise.all(writers.map((w) => w.abort()));
    throw err;
  }
  fs.db.recordOwnership(user.name, writers.map((w) => w.hash));
  ctx.body = { stored: writers.length, bytes: contentBytes };
}
