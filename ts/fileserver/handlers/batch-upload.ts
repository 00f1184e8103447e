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
import { commitOwned, type FileserverContext } from '../context.js';
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
  let small: { hash: string; parts: Buffer[] } | undefined;
  let files = 0;
  let contentBytes = 0;
  // Small files are collected in memory and written in the background, several at once,
  // so per-file filesystem round trips overlap instead of queueing behind each other.
  const background = new BackgroundWrites(SMALL_WRITES_IN_FLIGHT);
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
      if (h.size <= SMALL_FILE_BYTES) { small = { hash: h.hash, parts: [] }; return; }
      ops.push(async () => {
        current = await fs.store.createWriter(h.hash, { expectedSize: h.size });
        writers.push(current);
      });
    },
    content: (chunk) => {
      if (small) small.parts.push(chunk);
      else ops.push(() => current!.write(chunk));
    },
    end: () => {
      if (small) {
        const { hash, parts } = small;
        small = undefined;
        ops.push(() => background.add(async () => { writers.push(await fs.store.stageBuffer(hash, Buffer.concat(parts))); }));
        return;
      }
      ops.push(async () => { await current!.finish(); current = undefined; });
    },
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
    await background.drain();
    await commitOwned(fs, user.name, writers);
  } catch (err) {
    ops.length = 0;
    await background.settle();
    await Promise.all(writers.map((w) => w.abort()));
    throw err;
  }
  ctx.body = { stored: writers.length, bytes: contentBytes };
}

/** Files up to this size are buffered whole and written in one step. */
const SMALL_FILE_BYTES = 256 * 1024;
/** Small-file writes in flight per request (bounds memory to ~8 MB per request). */
const SMALL_WRITES_IN_FLIGHT = 32;

/** A bounded set of background tasks; the first failure is reported by add() or drain(). */
class BackgroundWrites {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { err: unknown } | undefined;
  constructor(private readonly limit: number) {}

  async add(task: () => Promise<void>): Promise<void> {
    this.check();
    while (this.inFlight.size >= this.limit) { await Promise.race(this.inFlight); this.check(); }
    const p: Promise<void> = task().catch((err) => { this.failure ??= { err }; }).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }
  async drain(): Promise<void> { await this.settle(); this.check(); }
  async settle(): Promise<void> { while (this.inFlight.size) await Promise.all([...this.inFlight]); }
  private check(): void { if (this.failure) throw this.failure.err; }
}
