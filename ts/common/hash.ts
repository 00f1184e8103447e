// Content identity: every blob is named by the lowercase hex SHA-256 of its bytes.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';

export const HASH_HEX_LENGTH = 64;
const HASH_RE = /^[0-9a-f]{64}$/;

/** SHA-256 of the empty string: the hash of every empty file. */
export const EMPTY_HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function isHash(value: unknown): value is string {
  return typeof value === 'string' && HASH_RE.test(value);
}

export function sha256(data: Buffer | Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A pass-through stream that hashes and counts what flows through it. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private result?: string;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  /** The hex digest; valid once the stream has ended. */
  digest(): string {
    this.result ??= this.hash.digest('hex');
    return this.result;
  }
}

/** Fan-out path for a hash under a store root: ab/cd/abcd... keeps directories small. */
/** SHA-256 of a file's bytes, streamed (never the whole file in memory). */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (c) => h.update(c)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

export function fanoutPath(hash: string): string {
  return `${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash}`;
}
