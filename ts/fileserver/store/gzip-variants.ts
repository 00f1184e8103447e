// Gzip copies of stored blobs, served to clients that accept gzip (workers): shared
// libraries and bytecode shrink to about a third, and a cold start is bound by the link.
//
// A copy is made in the background the first time a blob is asked for with gzip accepted
// (that request gets the plain bytes), one blob at a time, so the CPU goes only to blobs
// that are really fetched and never delays a response. While compressing, the blob is
// hashed: a stored blob that no longer matches its hash gets no copy (the plain bytes
// still fail the client's check, as they must). A copy is written to a temp file, fsynced
// and renamed into <dataDir>/blobs-gz/ab/cd/<hash>.gz, so a crash leaves it whole or
// absent; one that would not save at least a tenth is remembered as <hash>.plain (empty)
// and never tried again. Clients verify the decompressed bytes against the hash anyway.
// Deliberately does not: compress byte ranges (chunk requests stay plain), compress on
// the request path, or outlive its blob (GC drops the copy with the blob: drop()).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createGzip } from 'node:zlib';
import { fanoutPath } from '../../common/hash.js';
import type { Log } from '../../common/server.js';
import type { BlobStore } from './blob-store.js';

/** Blobs smaller than this are sent as they are (a gzip header and a frame cost more than they save). */
export const MIN_GZIP_BYTES = 512;
/** A copy is kept only when it is at most this share of the blob. */
const KEEP_RATIO = 0.9;
/** Blobs waiting for their copy; beyond this, requests for new ones are dropped (asked again later). */
const MAX_QUEUE = 100_000;
const LEVEL = 6;

export class GzipVariants {
  readonly dir: string;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private running?: Promise<void>;
  private closed = false;
  /** Told of a stored blob whose bytes no longer match its hash (found while making its copy). */
  onCorrupt?: (hash: string) => void;

  constructor(dataDir: string, private readonly store: BlobStore, private readonly log: Log) {
    this.dir = join(dataDir, 'blobs-gz');
  }

  /** Remove temp files a crash left behind. */
  async init(): Promise<void> {
    await rm(join(this.dir, 'tmp'), { recursive: true, force: true });
    await mkdir(join(this.dir, 'tmp'), { recursive: true });
  }

  /** The gzip copy of `hash`, when there is one. */
  async lookup(hash: string): Promise<{ path: string; size: number } | undefined> {
    const path = this.pathOf(hash);
    const st = await stat(path).catch(() => undefined);
    return st ? { path, size: st.size } : undefined;
  }

  /**
   * The copy to send to a client that takes gzip; when there is none yet, undefined (send
   * the plain blob), and the copy is asked for.
   */
  async forClient(hash: string, size: number): Promise<{ path: string; size: number } | undefined> {
    const copy = await this.lookup(hash);
    if (!copy) this.request(hash, size);
    return copy;
  }

  /** Ask for a copy of `hash` (a blob of `size` bytes) to be made in the background. */
  private request(hash: string, size: number): void {
    if (this.closed || size < MIN_GZIP_BYTES || this.queued.has(hash) || this.queue.length >= MAX_QUEUE) return;
    this.queued.add(hash);
    this.queue.push(hash);
    this.running ??= this.drain().finally(() => { this.running = undefined; });
  }

  /** Forget the copy of a deleted blob. */
  async drop(hash: string): Promise<void> {
    await rm(this.pathOf(hash), { force: true });
    await rm(this.plainMarkerOf(hash), { force: true });
  }

  /** Stop taking requests and wait for the copy in progress. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    await this.running;
  }

  private pathOf(hash: string): string { return join(this.dir, `${fanoutPath(hash)}.gz`); }
  private plainMarkerOf(hash: string): string { return join(this.dir, `${fanoutPath(hash)}.plain`); }

  private async drain(): Promise<void> {
    while (this.queue.length && !this.closed) {
      const hash = this.queue.shift()!;
      try {
        await this.make(hash);
      } catch (err) {
        this.log(`gzip copy of blob ${hash} not made: ${(err as Error).message}`);
      } finally {
        this.queued.delete(hash);
      }
    }
  }

  private async make(hash: string): Promise<void> {
    if (await this.lookup(hash) || await stat(this.plainMarkerOf(hash)).then(() => true, () => false)) return;
    const st = await this.store.stat(hash);
    if (!st) return;
    const tmp = join(this.dir, 'tmp', `${hash}.${process.pid}`);
    await mkdir(dirname(tmp), { recursive: true });
    const out = await open(tmp, 'w', 0o644);
    try {
      const hasher = createHash('sha256');
      const gzip = createGzip({ level: LEVEL });
      const input = await this.store.read(hash);
      input.on('data', (c: Buffer) => hasher.update(c));
      input.on('error', (err) => gzip.destroy(err));
      input.pipe(gzip);
      let written = 0;
      for await (const chunk of gzip as AsyncIterable<Buffer>) { await out.write(chunk); written += chunk.length; }
      if (hasher.digest('hex') !== hash) { this.log(`stored blob ${hash} does not match its hash: no gzip copy made`); this.onCorrupt?.(hash); return; }
      if (written > st.size * KEEP_RATIO) {
        await mkdir(dirname(this.plainMarkerOf(hash)), { recursive: true });
        await writeFile(this.plainMarkerOf(hash), '');
        return;
      }
      await out.sync();
      await out.close();
      await mkdir(dirname(this.pathOf(hash)), { recursive: true });
      await rename(tmp, this.pathOf(hash));
      // Deleted by GC meanwhile: no copy may outlive its blob.
      if (!await this.store.stat(hash)) await this.drop(hash);
    } finally {
      await out.close().catch(() => {});
      await rm(tmp, { force: true });
    }
  }

  /** A stream of the gzip copy (for a response). */
  static read(path: string) { return createReadStream(path); }
}
