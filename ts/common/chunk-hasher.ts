// Hashes a content as a whole and chunk by chunk in one pass: the whole SHA-256 (the
// blob's name) and the SHA-256 of every fixed-size chunk (manifest chunk hashes, see
// ts/common/manifest.ts). Used by the exporters and by test publishers.
//
// Deliberately does not: read files or decide which files get chunk hashes (callers do).
import { createHash, type Hash } from 'node:crypto';

export class ChunkHasher {
  private readonly whole: Hash = createHash('sha256');
  private chunk: Hash = createHash('sha256');
  private inChunk = 0;
  private readonly hashes: string[] = [];
  bytes = 0;

  constructor(readonly chunkSize: number) {}

  update(data: Buffer): void {
    this.whole.update(data);
    this.bytes += data.length;
    let at = 0;
    while (at < data.length) {
      const take = Math.min(this.chunkSize - this.inChunk, data.length - at);
      this.chunk.update(data.subarray(at, at + take));
      this.inChunk += take;
      at += take;
      if (this.inChunk === this.chunkSize) this.closeChunk();
    }
  }

  /** The whole hash and the chunk hashes (the last chunk may be short). Call once. */
  finish(): { hash: string; chunks: string[] } {
    if (this.inChunk > 0) this.closeChunk();
    return { hash: this.whole.digest('hex'), chunks: this.hashes };
  }

  private closeChunk(): void {
    this.hashes.push(this.chunk.digest('hex'));
    this.chunk = createHash('sha256');
    this.inChunk = 0;
  }
}

/** Whole and chunk hashes of an in-memory content or a byte stream. */
export async function hashChunks(source: Buffer | AsyncIterable<unknown>, chunkSize: number): Promise<{ hash: string; chunks: string[]; bytes: number }> {
  const h = new ChunkHasher(chunkSize);
  if (Buffer.isBuffer(source)) h.update(source);
  else for await (const c of source) h.update(c as Buffer);
  return { ...h.finish(), bytes: h.bytes };
}
