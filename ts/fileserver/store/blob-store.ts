// The fileserver's blob store contract. Handlers only ever talk to this interface, so a
// different backend (an S3-compatible object store: staged multipart upload, then a
// conditional copy into place) can replace the local directory without touching them.
//
// Writing is two-phase so a batch of thousands of files pays for durability once:
//   writer = createWriter(hash) → write(chunk)… → finish()  (hash verified, not visible)
//   commit([writers…])                                      (durable and visible, then ack)
// A blob is visible only after commit resolves, and then it is complete and correct.
// Deliberately does not: know about users, ownership or images (that is db.ts).
import type { Readable } from 'node:stream';
import { SwayError } from '../../common/errors.js';

export interface BlobWriter {
  readonly hash: string;
  /** Append bytes; hashed as they pass. Throws DiskFullError when storage is exhausted. */
  write(chunk: Buffer): Promise<void>;
  /** Close the staged copy and verify it: HashMismatchError (nothing kept) if it does not match. */
  finish(): Promise<{ size: number }>;
  /** Drop the staged copy. Safe to call at any time, more than once. */
  abort(): Promise<void>;
}

export interface ByteRange { start: number; end: number /* inclusive */ }

export interface BlobStore {
  /** Prepare storage; removes staged copies a crash left behind. */
  init(): Promise<void>;
  /** Size of a stored blob, or null when absent. */
  stat(hash: string): Promise<{ size: number; mtimeMs: number } | null>;
  createWriter(hash: string, opts?: { expectedSize?: number }): Promise<BlobWriter>;
  /** Stage a small blob already in memory in one step: verified, finished, not yet visible. */
  stageBuffer(hash: string, content: Buffer): Promise<BlobWriter>;
  /**
   * Make finished writers durable and visible; resolves only once they are. An existing
   * blob stays untouched unless its stored copy no longer matches its hash (bit rot, a bad
   * disk): then the verified upload replaces it.
   */
  commit(writers: BlobWriter[]): Promise<void>;
  /** A stream of a stored blob (or a byte range of it). NotFoundError when absent. */
  read(hash: string, range?: ByteRange): Promise<Readable>;
  /** A whole blob in memory, refused (LimitError) above maxBytes. */
  readAll(hash: string, maxBytes: number): Promise<Buffer>;
  /** Does the stored copy still hash to its name? null when absent. Reads the whole blob. */
  matches(hash: string): Promise<boolean | null>;
  delete(hash: string): Promise<void>;
  /** Every stored hash (for garbage collection and verification). */
  list(): AsyncIterable<string>;
}

/** Storage exhausted (ENOSPC, EDQUOT): 507, the upload is not stored. */
export class DiskFullError extends SwayError {
  constructor(cause?: unknown) {
    super('SWAY_DISK_FULL', 'the fileserver is out of disk space: upload not stored (reads still work)', 507, { cause });
    this.name = 'DiskFullError';
  }
}

export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
