// Uploads file contents while the layers are still being read, so reading podman's store
// and storing on the fileserver overlap instead of running one after the other. The
// reader hands over each content it has hashed (add); every few thousand contents the
// uploader asks the fileserver which it lacks (POST /sync) and sends those
// (PUT /batch-upload), three batches in flight. When too many are in flight, add()
// waits: the reader never runs far ahead of the upload and memory stays flat (a file's
// bytes are read again at send time, from the page cache the reader just filled).
//
// Publishing is untouched: publishImage still syncs every content of the final manifest
// (the fileserver then asks only for what was not sent here) and moves the name only
// after the manifest is stored. A content sent early that the final tree does not use (a
// file a later layer deletes) is stored but unreferenced, and the fileserver's GC takes it.
// Every body is verified by the server as before; a file changed between hashing and
// sending fails its batch (hash mismatch) and the export.
//
// Deliberately does not: retry, or read layers (store-image.ts calls add()).
import type { FileserverClient, UploadFile } from '../common/fileserver-client.js';
import { LIMITS } from '../common/protocol.js';
import { SwayError } from '../common/errors.js';

/** Contents per sync + batch: big enough that the fileserver's two syncfs per batch stay
 *  few (they cost the most on a busy disk). 3000 files / 256 MB with 3 in flight took the
 *  CLI's peak RSS to 323-346 MB (the budget is 300); 2000 / 128 MB keep it at 252-288 MB.
 *  Three batches in flight, not two: the fileserver is the slower side while a batch
 *  streams in (it decrypts, hashes and writes), and with two the reader stalled behind it;
 *  first exports of the scipy image, alternating on a quiet machine: 96.4 and 100.1 MB/s
 *  against 91.3 and 96.1 (1000 files / 64 MB with 4 in flight: 98.0, 101.4). */
const BATCH_FILES = Math.min(2000, LIMITS.maxFilesPerBatch);
const BATCH_BYTES = 128 * 1024 * 1024;
const IN_FLIGHT = 3;

export interface EarlyFile {
  /** The path the reader found it at (the sync key; echoed in errors). */
  key: string;
  hash: string;
  size: number;
  open(): NodeJS.ReadableStream | Buffer;
}

export class EarlyUploader {
  private readonly offered = new Set<string>();
  private pending: EarlyFile[] = [];
  private pendingBytes = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { err: unknown } | undefined;
  /** File blobs the fileserver took from this uploader, and their bytes. */
  blobsUploaded = 0;
  bytesUploaded = 0;

  constructor(private readonly client: FileserverClient, private readonly onProgress?: (files: number, bytes: number) => void) {}

  /** Queue one content (once per hash); waits while the upload is behind. */
  async add(file: EarlyFile): Promise<void> {
    this.check();
    if (file.size === 0 || this.offered.has(file.hash)) return;
    this.offered.add(file.hash);
    this.pending.push(file);
    this.pendingBytes += file.size;
    if (this.pending.length >= BATCH_FILES || this.pendingBytes >= BATCH_BYTES) await this.flush();
  }

  /** Send what is queued and wait for every batch; throws the first failure. */
  async finish(): Promise<void> {
    if (this.pending.length) await this.flush();
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
    this.check();
  }

  /** Wait for batches in flight without reporting their failures (after the reader failed). */
  async settle(): Promise<void> {
    this.pending = [];
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  private async flush(): Promise<void> {
    while (this.inFlight.size >= IN_FLIGHT) { await Promise.race(this.inFlight); this.check(); }
    const files = this.pending;
    this.pending = []; this.pendingBytes = 0;
    const p: Promise<void> = this.send(files)
      .catch((err) => { this.failure ??= { err }; })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async send(files: EarlyFile[]): Promise<void> {
    const byKey = new Map(files.map((f) => [f.key, f]));
    const wanted = await this.client.sync(files.map((f) => ({ key: f.key, hash: f.hash })));
    if (this.failure) return;
    const batch: UploadFile[] = wanted.map((key) => {
      const f = byKey.get(key);
      if (!f) throw new SwayError('SWAY_EXPORT', `fileserver asked for ${JSON.stringify(key)}, which this export did not offer`, 500);
      return { key: f.key, hash: f.hash, size: f.size, open: () => f.open() };
    });
    if (batch.length === 0) return;
    await this.client.batchUpload(batch);
    this.blobsUploaded += batch.length;
    this.bytesUploaded += batch.reduce((n, f) => n + f.size, 0);
    this.onProgress?.(this.blobsUploaded, this.bytesUploaded);
  }

  /** Throws the upload's failure, if it had one (the reader's error may be a wrapper of it). */
  check(): void {
    if (this.failure) throw this.failure.err;
  }
}
