// LazyFilesystem: the worker's handle on the native lazy FUSE mount. It validates every
// argument (the C++ trusts its input), turns manifests into native trees, and serves the
// native layer's misses: fetch with retries into the disk cache, then blobReady, then
// evict down to the cap. Deliberately does not: read the mount (see the deadlock rule in
// native/src/lazy_fs.h: this process serves the mount, so neither its main thread nor
// libuv's threadpool may touch it; run readers in other processes), build overlays, or
// decide which images to load.
import { stat, mkdir, realpath, writeFile, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import { encodeManifest, readManifestTable, type Manifest, type ManifestTable } from '../../common/manifest.js';
import { NotFoundError, UsageError } from '../../common/errors.js';
import { fetchWithRetry, DEFAULT_RETRY_POLICY, type BlobFetcher, type FetchObserver } from './blob-fetcher.js';
import { DiskCache } from './disk-cache.js';
import { tableToColumns } from './image-columns.js';
import { runsOf, type ChunkRuns } from '../../common/start-profile.js';
import { ChunkCache, type ChunkCacheHost, type ChunkFetcher } from './chunk-cache.js';
import { FuseClosedError, FuseMountError } from './errors.js';
import { loadAddon, type FsCounters, type NativeMount } from './native.js';

export type { FsCounters } from './native.js';

/**
 * A source of many blobs in one request (FileserverClient.fetchBatch): calls onBlob with
 * each blob's bytes ALREADY VERIFIED against its hash, and onCorrupt for a blob that was not.
 */
export type BatchSource = (
  hashes: string[],
  onBlob: (hash: string, content: Buffer) => Promise<void>,
  opts: { signal: AbortSignal; onCorrupt: (hash: string, err: Error) => void },
) => Promise<{ missing: string[] }>;

export interface PrefetchOptions {
  /** Batches in flight at once. Default 3. */
  concurrency?: number;
  /** Bytes per batch (a blob larger than this is a batch of its own). Default 8 MiB. */
  batchBytes?: number;
  /** Blobs larger than this are left to the ordinary miss path. Default 64 MiB. */
  maxBlobBytes?: number;
  /** Stops the prefetch (blobs not yet written are left to misses). */
  signal?: AbortSignal;
  /** The whole prefetch gives up after this long (what is left goes to misses). Default 60 s. */
  deadlineMs?: number;
  /** A reader waits this long for a blob its batch is streaming, then fetches it itself. Default 2 s. */
  joinTimeoutMs?: number;
  /** Told about each blob written (joined: a reader was waiting, so the native counters count it). */
  onWritten?: (hash: string, size: number, joined: boolean) => void;
}

export interface PrefetchResult {
  /** Blobs written into the cache by this prefetch. */
  fetched: number;
  bytes: number;
  /** Already cached or being fetched when asked. */
  skipped: number;
  /** Not written: absent on the server, corrupt, or the batch failed; misses fetch them one by one. */
  failed: number;
  /** Of `fetched`, those a reader was already waiting for. */
  joined: number;
}

/** Told about every blob the mount serves to a reader, first access first (see recordAccesses). */
export interface AccessRecording {
  /** Hashes seen since the recording started, each once, in first-access order. */
  hashes(): string[];
  /** Chunks readers missed since the recording started, per blob, blobs in first-miss order. */
  chunks(): ChunkRuns[];
  stop(): string[];
}

/** One recordAccesses() in progress. */
interface Recording {
  /** Blobs read whole (or promoted from chunks), in the order they were first seen as such. */
  seen: Set<string>;
  order: string[];
  /** Chunk indices missed, per blob (Map order: first miss first). */
  chunks: Map<string, Set<number>>;
  /** When each blob was first touched, whole or by chunk (a counter, not a time). */
  firstAt: Map<string, number>;
  clock: number;
}

/** What prefetchChunks did. */
export interface ChunkPrefetchResult {
  /** Runs asked for (of blobs with a chunk list, not cached whole). */
  runs: number;
  /** Bytes fetched from the fileserver (chunks already present cost nothing). */
  bytes: number;
}
export type { BlobFetcher } from './blob-fetcher.js';

export interface LazyFilesystemOptions {
  /** An existing empty directory; a stale mount left there by a crash is cleared. */
  mountpoint: string;
  /** Disk cache of blobs, `ab/cd/<hash>`; must not be inside the mountpoint. */
  cacheDir: string;
  /** Cache size cap; least recently used blobs beyond it are evicted. Default 10 GiB. */
  cacheMaxBytes?: number;
  fetcher: BlobFetcher;
  /** Overall bound for one blob's fetch, all retries included; then EIO. Default 8 s (blob-fetcher.ts). */
  fetchTimeoutMs?: number;
  /** Attempts after the first, at most; the deadline usually ends them first. Default 20. */
  retries?: number;
  /** FUSE session threads. Default 8. */
  threads?: number;
  /**
   * Open-less files (where the kernel offers it): opens and closes cost no request, a
   * missing blob is fetched at its file's first read, and no file uses FUSE passthrough.
   * false: an OPEN and a RELEASE per open, and passthrough for cached files over 1 MiB
   * (native/src/lazy_fs.h and docs/ARCHITECTURE.md weigh the two). Default 'auto':
   * open-less only where the kernel offers no passthrough, whose benefit needs the OPENs.
   */
  noOpen?: boolean | 'auto';
  /** Told about each blob that could not be fetched (the reader got EIO). */
  onFetchError?: (hash: string, err: unknown) => void;
  /** Told about each failed attempt (integrity failures, retries): metrics and log. */
  fetchObserver?: FetchObserver;
  /** Fetches parts of blobs whose manifest has chunk hashes (chunk-cache.ts); without it, files are fetched whole. */
  chunkFetcher?: ChunkFetcher;
}

const DEFAULTS = { cacheMaxBytes: 10 * 1024 ** 3, fetchTimeoutMs: DEFAULT_RETRY_POLICY.timeoutMs, retries: DEFAULT_RETRY_POLICY.retries, threads: 8, noOpen: 'auto' as boolean | 'auto' };
/** Directory names at the mount root: no slash, no dot names, printable. */
const NAME_RE = /^(?!\.\.?$)[A-Za-z0-9._:@+=-]{1,255}$/;

export class LazyFilesystem {
  private readonly names = new Map<string, string>(); // dir name -> image id
  private readonly aliasesOf = new Map<string, string[]>(); // image id -> all its dir names
  private readonly inflight = new Set<Promise<void>>();
  /** Blobs a prefetch is writing: a miss for one waits for it (true = in the cache) instead of fetching again. */
  private readonly prefetching = new Map<string, { done: Promise<boolean>; settle: (ok: boolean) => void; waited: boolean; streaming: boolean }>();
  private readonly recordings = new Set<Recording>();
  private joinTimeoutMs = 2000;
  private readonly abort = new AbortController();
  private evicting: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly mountpoint: string,
    private readonly native: NativeMount,
    private readonly cache: DiskCache,
    private readonly opts: Required<Omit<LazyFilesystemOptions, 'onFetchError' | 'fetchObserver' | 'chunkFetcher'>> & Pick<LazyFilesystemOptions, 'onFetchError' | 'fetchObserver' | 'chunkFetcher'>,
    private readonly chunks: ChunkCache,
  ) {}

  static async mount(options: LazyFilesystemOptions): Promise<LazyFilesystem> {
    // An option given as undefined takes its default.
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as unknown as LazyFilesystemOptions;
    const opts = { ...DEFAULTS, ...given };
    for (const key of ['mountpoint', 'cacheDir'] as const) {
      if (typeof opts[key] !== 'string' || !isAbsolute(opts[key])) throw new UsageError(`${key} must be an absolute path, got ${JSON.stringify(opts[key])}`);
    }
    positiveInteger('cacheMaxBytes', opts.cacheMaxBytes);
    positiveInteger('fetchTimeoutMs', opts.fetchTimeoutMs);
    positiveInteger('threads', opts.threads, 256);
    if (typeof opts.noOpen !== 'boolean' && opts.noOpen !== 'auto') throw new UsageError(`noOpen must be true, false or 'auto', got ${JSON.stringify(opts.noOpen)}`);
    if (!Number.isInteger(opts.retries) || opts.retries < 0 || opts.retries > 20) throw new UsageError(`retries must be an integer 0..20, got ${opts.retries}`);
    if (!opts.fetcher || typeof opts.fetcher.fetch !== 'function') throw new UsageError('fetcher must implement fetch(hash, size, destPath, signal)');
    const mountpoint = resolve(opts.mountpoint);
    // stat of a stale FUSE mount fails with ENOTCONN: that one native code clears.
    const st = await stat(mountpoint).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOTCONN') return undefined;
      throw new FuseMountError(`mountpoint ${mountpoint} is not usable: ${err.code ?? err.message}`, { cause: err });
    });
    if (st && !st.isDirectory()) throw new FuseMountError(`mountpoint ${mountpoint} is not a directory`);
    await mkdir(opts.cacheDir, { recursive: true });
    const cacheDir = await realpath(opts.cacheDir);
    if (cacheDir === mountpoint || cacheDir.startsWith(mountpoint + '/')) {
      throw new UsageError(`cacheDir ${cacheDir} must not be inside the mountpoint ${mountpoint}`);
    }
    const cache = await DiskCache.open(cacheDir, opts.cacheMaxBytes);
    const { NativeMount } = loadAddon();
    let fs: LazyFilesystem | undefined;
    const chunks = await ChunkCache.open(cacheDir);
    const native = new NativeMount({ mountpoint, cacheDir, threads: opts.threads, noOpen: opts.noOpen }, (hash, size, chunkSize, first, count) => {
      if (chunkSize) fs!.onChunkMiss(hash, size, chunkSize, first!, count!);
      else fs!.onMiss(hash, size);
    });
    fs = new LazyFilesystem(mountpoint, native, cache, { ...opts, mountpoint, cacheDir }, chunks);
    try {
      native.mount();
    } catch (err) {
      native.unmount(); // releases the thread-safe function so the process can exit
      throw new FuseMountError((err as Error).message, { cause: err });
    }
    fs.scheduleEviction();
    return fs;
  }

  /**
   * Present `manifest` at `<mountpoint>/<id>` and at `<mountpoint>/<alias>` for each alias.
   * A manifest built in memory (tests, tools) is encoded and decoded first, so that it is
   * validated and laid out exactly as a fetched one is (loadTable).
   */
  loadImage(id: string, manifest: Manifest, aliases: string[] = []): void {
    const dirNames = this.checkImageNames(id, aliases);
    if (!manifest || !Array.isArray(manifest.entries)) throw new UsageError('manifest has no entries');
    this.loadColumns(id, dirNames, readManifestTable(encodeManifest(manifest)));
  }

  /** loadImage for a decoded manifest (readManifestTable): no entry objects made. */
  loadTable(id: string, table: ManifestTable, aliases: string[] = []): void {
    this.loadColumns(id, this.checkImageNames(id, aliases), table);
  }

  private checkImageNames(id: string, aliases: string[]): string[] {
    this.assertOpen();
    const dirNames = [id, ...aliases];
    for (const name of dirNames) {
      if (typeof name !== 'string' || !NAME_RE.test(name)) throw new UsageError(`image directory name ${JSON.stringify(name)} is not allowed (letters, digits and ._:@+=- only)`);
      if (this.names.has(name)) throw new UsageError(`image directory name ${JSON.stringify(name)} is already in use by image ${this.names.get(name)}`);
    }
    if (new Set(dirNames).size !== dirNames.length) throw new UsageError('image id and aliases must be distinct');
    return dirNames;
  }

  private loadColumns(id: string, dirNames: string[], table: ManifestTable): void {
    const columns = tableToColumns(table);
    if (this.opts.chunkFetcher && table.chunks) {
      columns.chunkSizes = ChunkCache.chunkSizes(columns, this.chunks.register(table.chunks, table.chunkedSizes), table.chunks.chunkSize);
    }
    this.native.loadImage(id, dirNames, columns);
    for (const name of dirNames) this.names.set(name, id);
    this.aliasesOf.set(id, dirNames);
  }

  unloadImage(id: string): void {
    this.assertOpen();
    const dirNames = this.aliasesOf.get(id);
    if (!dirNames) throw new NotFoundError(`image ${id} is not loaded`);
    this.native.unloadImage(id);
    for (const name of dirNames) this.names.delete(name);
    this.aliasesOf.delete(id);
  }

  /** The directory presenting an image (for the overlay's lowerdir). */
  imageRoot(idOrAlias: string): string {
    if (!this.names.has(idOrAlias)) throw new NotFoundError(`image ${idOrAlias} is not loaded`);
    return join(this.mountpoint, idOrAlias);
  }

  /** Counters of one image (by id or alias) or, without an argument, of the mount. */
  stats(id?: string): FsCounters {
    if (id !== undefined && !this.names.has(id)) throw new NotFoundError(`image ${id} is not loaded`);
    return this.native.stats(id)!;
  }

  /** Requests the kernel sent on the mount's connection, by FUSE opcode ("OPEN": n); mount-wide. */
  requestCounts(): Record<string, number> {
    return this.native.requestCounts();
  }

  /** Re-hash every cached blob and remove the ones that do not match. */
  async verifyCache(): Promise<{ checked: number; removed: number }> {
    // Serialized with evictions, so a blob evicted meanwhile is not reported as bad.
    const run = this.evicting.then(async () => {
      // Descriptors kept for closed files would go on serving a blob verify removes.
      if (!this.closed) this.native.dropIdleFiles();
      const whole = await this.cache.verify();
      const partial = await this.chunks.verify();
      return { checked: whole.checked + partial.checked, removed: whole.removed + partial.removed };
    });
    this.evicting = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Cache occupancy (for logs and tests). */
  cacheUsage(): { bytes: number; blobs: number; maxBytes: number; partialBytes: number; partialBlobs: number } {
    return {
      bytes: this.cache.totalBytes + this.chunks.totalBytes, blobs: this.cache.count + this.chunks.count, maxBytes: this.cache.maxBytes,
      partialBytes: this.chunks.totalBytes, partialBlobs: this.chunks.count,
    };
  }

  /** Chunks of `hash` present in its partial file (0 once it is whole, or never fetched). */
  presentChunks(hash: string): number { return this.chunks.presentChunks(hash); }

  /**
   * Answer in-flight opens with EIO, unmount, join the FUSE threads, then let running
   * fetches settle. Idempotent.
   */
  async unmount(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.native.unmount();
    await Promise.allSettled([...this.inflight]);
    await this.evicting;
    await this.cache.close(); // the blobs fetched are durable before the next start
  }

  /**
   * Stream `blobs` into the disk cache through `source` in a few parallel batches, in the
   * order given (first needed first), while readers go on: a reader that misses a blob of
   * the prefetch waits for it (one fetch per blob), and a blob the prefetch does not
   * deliver (missing, corrupt, batch failed, aborted) is fetched on its own for that
   * reader. Only verified bytes enter the cache. Never throws.
   */
  async prefetch(blobs: { hash: string; size: number }[], source: BatchSource, options: PrefetchOptions = {}): Promise<PrefetchResult> {
    const concurrency = options.concurrency ?? 3;
    const batchBytes = options.batchBytes ?? 8 * 1024 * 1024;
    const maxBlobBytes = options.maxBlobBytes ?? 64 * 1024 * 1024;
    const result: PrefetchResult = { fetched: 0, bytes: 0, skipped: 0, failed: 0, joined: 0 };
    if (this.closed) return result;
    const deadline = AbortSignal.timeout(options.deadlineMs ?? 60_000);
    const signal = AbortSignal.any([deadline, this.abort.signal, ...(options.signal ? [options.signal] : [])]);
    this.joinTimeoutMs = options.joinTimeoutMs ?? 2000;
    const sizes = new Map<string, number>();
    for (const { hash, size } of blobs) {
      if (sizes.has(hash) || size <= 0 || size > maxBlobBytes) continue;
      if (this.cache.has(hash) || this.prefetching.has(hash)) { result.skipped++; continue; }
      sizes.set(hash, size);
      let settle!: (ok: boolean) => void;
      const done = new Promise<boolean>((r) => { settle = r; });
      this.prefetching.set(hash, { done, settle, waited: false, streaming: false });
    }
    // Batches in first-access order; `concurrency` of them stream at once, sharing the link.
    // The first ones are small and grow (1/8, 1/4, 1/2 of batchBytes, then batchBytes), so
    // the blobs needed first are not held behind a large batch's share of the bandwidth.
    const batches: string[][] = [];
    let current: string[] = [];
    let currentBytes = 0;
    const limitOf = (index: number) => Math.max(64 * 1024, batchBytes / 2 ** Math.max(0, 3 - index));
    for (const [hash, size] of sizes) {
      if (current.length && currentBytes + size > limitOf(batches.length)) { batches.push(current); current = []; currentBytes = 0; }
      current.push(hash); currentBytes += size;
    }
    if (current.length) batches.push(current);
    const finish = (hash: string, ok: boolean) => {
      const p = this.prefetching.get(hash);
      if (!p) return;
      this.prefetching.delete(hash);
      if (ok) {
        result.fetched++; result.bytes += sizes.get(hash)!;
        if (p.waited) result.joined++;
        try { options.onWritten?.(hash, sizes.get(hash)!, p.waited); } catch { /* a counter must not break the prefetch */ }
      }
      else result.failed++;
      p.settle(ok);
    };
    let next = 0;
    const lane = async () => {
      while (next < batches.length && !signal.aborted) {
        // A blob a reader asked for before its batch started was taken over by that reader.
        const batch = batches[next++]!.filter((h) => this.prefetching.has(h));
        if (!batch.length) continue;
        for (const h of batch) this.prefetching.get(h)!.streaming = true;
        try {
          await source(batch, async (hash, content) => {
            if (!this.prefetching.has(hash)) return;
            try { await this.writeBlob(hash, content); finish(hash, true); } catch { finish(hash, false); }
          }, { signal, onCorrupt: (hash, err) => { finish(hash, false); this.reportError(hash, err); } });
        } catch { /* the batch broke off: its remaining blobs fall back to misses below */ }
        for (const hash of batch) finish(hash, false);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, lane));
    for (const hash of sizes.keys()) finish(hash, false); // aborted before their batch started
    if (result.fetched) this.scheduleEviction();
    return result;
  }

  /**
   * Record the blobs readers use from now on: misses as they happen, and opens served from
   * the disk cache (collected from the native layer when the recording is read or stopped).
   */
  recordAccesses(): AccessRecording {
    const rec: Recording = { seen: new Set(), order: [], chunks: new Map(), firstAt: new Map(), clock: 0 };
    this.recordings.add(rec);
    // A big file read by chunk and then whole (promoted) takes the place of its first chunk
    // read: an interpreter executed first must not be prefetched last.
    const read = () => {
      this.collectAccesses(this.native.drainAccessed());
      // A file whose every chunk was missed was read whole, even while its promotion to a
      // whole blob (hash, rename: addWhole) is still under way when the run ends.
      for (const [hash, indices] of rec.chunks) {
        const chunked = this.chunks.listOf(hash);
        if (chunked && indices.size >= chunked.chunks && !rec.seen.has(hash)) { rec.seen.add(hash); rec.order.push(hash); }
      }
      return [...rec.order].sort((a, b) => rec.firstAt.get(a)! - rec.firstAt.get(b)!);
    };
    const chunks = () => [...rec.chunks].map(([hash, indices]) => ({ hash, runs: runsOf(indices) }));
    return { hashes: read, chunks, stop: () => { const out = read(); this.recordings.delete(rec); return out; } };
  }

  /**
   * Blobs the worker itself read for a run (outside the mount: /etc/passwd and /etc/group
   * before the container starts) enter the start profiles being recorded, in the order read.
   */
  noteAccess(hashes: string[]): void {
    if (this.recordings.size) this.collectAccesses(hashes);
  }

  /**
   * Resolves once a prefetch batch streaming `hash` has written it (true) or not (false;
   * at most the join bound); at once with false when no batch is streaming it.
   */
  afterPrefetchOf(hash: string): Promise<boolean> {
    const prefetch = this.prefetching.get(hash);
    if (!prefetch?.streaming) return Promise.resolve(false);
    return new Promise((resolve) => this.afterPrefetch(prefetch, resolve));
  }

  /**
   * Fetch chunk runs of blobs read by chunk (a start profile's), `concurrency` Range
   * requests at once, into the partial-blob cache, while readers go on: a reader missing a
   * chunk in flight joins its fetch (ChunkCache). Blobs without a chunk list in a loaded
   * manifest, or cached whole, are skipped. Only verified chunks are written. Never throws.
   */
  async prefetchChunks(list: ChunkRuns[], options: { concurrency?: number; signal?: AbortSignal; onFetched?: (bytes: number) => void } = {}): Promise<ChunkPrefetchResult> {
    const result: ChunkPrefetchResult = { runs: 0, bytes: 0 };
    const fetcher = this.opts.chunkFetcher;
    if (this.closed || !fetcher) return result;
    const signal = options.signal ? AbortSignal.any([this.abort.signal, options.signal]) : this.abort.signal;
    const host = this.chunkHost((bytes) => { result.bytes += bytes; options.onFetched?.(bytes); });
    const jobs: Array<() => Promise<void>> = [];
    for (const { hash, runs } of list) {
      const chunked = this.chunks.listOf(hash);
      if (!chunked || this.cache.has(hash)) continue;
      for (const [first, count] of runs) {
        if (first + count > chunked.chunks) continue;
        result.runs++;
        jobs.push(() => this.chunks.serve(host, fetcher, { retries: this.opts.retries, timeoutMs: this.opts.fetchTimeoutMs, signal, observer: this.opts.fetchObserver },
          hash, chunked.size, chunked.chunkSize, first, count));
      }
    }
    let next = 0;
    const lane = async () => { while (next < jobs.length && !signal.aborted) await jobs[next++]!(); };
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, jobs.length) }, lane));
    this.scheduleEviction();
    return result;
  }

  /**
   * The ChunkCache's view of this mount. `fetched` set: a prefetch's host, whose fetched
   * bytes are its own to count (no reader asked for them, so the native counters must not).
   */
  private chunkHost(fetched?: (bytes: number) => void): ChunkCacheHost {
    return {
      chunksReady: (h, f, c, errno, bytes) => {
        if (fetched && bytes > 0) fetched(bytes);
        this.native.chunksReady(h, f, c, this.closed ? osConstants.errno.EIO : errno, fetched ? 0 : bytes);
      },
      addWhole: (h, sz) => { this.cache.add(h, sz); if (this.recordings.size) this.collectAccesses([h]); },
      hasWhole: (h) => this.cache.has(h),
      wholePath: (h) => this.cache.pathOf(h),
      onFetchError: (h, err) => this.reportError(h, err),
    };
  }

  private collectAccesses(hashes: Iterable<string>): void {
    const list = [...hashes];
    // Recency for eviction still needs every drained open.
    this.cache.touch(list);
    for (const rec of this.recordings) {
      for (const h of list) {
        if (rec.seen.has(h)) continue;
        rec.seen.add(h);
        rec.order.push(h);
        if (!rec.firstAt.has(h)) rec.firstAt.set(h, rec.clock++);
      }
    }
  }

  /** Verified bytes into the cache: temp file beside the target, then rename. */
  private async writeBlob(hash: string, content: Buffer): Promise<void> {
    const dest = this.cache.pathOf(hash);
    const tmp = `${dest}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    await mkdir(dirname(dest), { recursive: true });
    try {
      await writeFile(tmp, content, { mode: 0o644, flag: 'wx' });
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    this.cache.add(hash, content.length);
    this.native.blobReady(hash, 0); // answers a reader parked on it, if any (else a no-op)
  }

  private reportError(hash: string, err: unknown): void {
    try { this.opts.onFetchError?.(hash, err); } catch { /* a logger must not break the mount */ }
  }

  /** Called on the JS thread (through the thread-safe function) once per missing blob. */
  private onMiss(hash: string, size: number): void {
    // Never throw from here: an exception in a thread-safe-function callback is uncaught.
    try {
      if (this.recordings.size) this.collectAccesses([hash]);
      const prefetch = this.prefetching.get(hash);
      if (prefetch && !prefetch.streaming) {
        // Its batch has not started: the reader should not wait behind others; fetch it now.
        this.prefetching.delete(hash);
        prefetch.settle(false);
      } else if (prefetch) {
        // Its batch is streaming: join it, for a bounded time; if it does not deliver, fetch.
        prefetch.waited = true;
        this.afterPrefetch(prefetch, (delivered) => {
          if (delivered) this.native.blobReady(hash, 0); // already answered by writeBlob: a no-op then
          else this.onMissFallback(hash, size);
        });
        return;
      }
      this.startFetch(hash, size);
    } catch (err) {
      this.native.blobReady(hash, osConstants.errno.EIO);
      try { this.opts.onFetchError?.(hash, err); } catch { /* ignore */ }
    }
  }

  /** Called on the JS thread once per run of chunks a read needs that nobody asked for yet. */
  private onChunkMiss(hash: string, size: number, chunkSize: number, first: number, count: number): void {
    // Recorded for start profiles as chunks, not as a blob: a file read by chunk is one
    // whose whole bytes the run may not need. One whose chunks all ended up fetched
    // (promoted to a whole blob, addWhole) is recorded as a blob then.
    for (const rec of this.recordings) {
      if (!rec.firstAt.has(hash)) rec.firstAt.set(hash, rec.clock++);
      let indices = rec.chunks.get(hash);
      if (!indices) rec.chunks.set(hash, indices = new Set());
      for (let i = first; i < first + count; i++) indices.add(i);
    }
    const host = this.chunkHost();
    if (this.closed || !this.opts.chunkFetcher) { host.chunksReady(hash, first, count, osConstants.errno.EIO, 0); return; }
    const serve = () => {
      const job = this.chunks.serve(host, this.opts.chunkFetcher!, { retries: this.opts.retries, timeoutMs: this.opts.fetchTimeoutMs, signal: this.abort.signal, observer: this.opts.fetchObserver },
        hash, size, chunkSize, first, count).then(() => this.scheduleEviction(), () => this.scheduleEviction());
      this.inflight.add(job);
      void job.finally(() => this.inflight.delete(job));
    };
    const prefetch = this.prefetching.get(hash);
    if (prefetch?.streaming) {
      // The whole blob is on its way in a prefetch batch: wait for it (bounded), then the
      // chunks are served from it; else fetch them as usual. Not marked as waited for: a
      // chunk read served from the whole blob counts no fetched bytes natively, so the
      // prefetch's bytes must count as the run's (prefetchedBytes), as for an unjoined blob.
      this.afterPrefetch(prefetch, serve);
      return;
    }
    if (prefetch) {
      // Its batch has not started: the chunks this read needs come first, on their own.
      this.prefetching.delete(hash);
      prefetch.settle(false);
    }
    serve();
  }

  /** Wait for a streaming prefetch of a blob, at most joinTimeoutMs; then `next` once (delivered or not). */
  private afterPrefetch(prefetch: { done: Promise<boolean> }, next: (delivered: boolean) => void): void {
    let answered = false;
    const answer = (delivered: boolean) => { if (!answered) { answered = true; next(delivered); } };
    const timer = setTimeout(() => answer(false), this.joinTimeoutMs);
    void prefetch.done.then((ok) => { clearTimeout(timer); answer(ok); });
  }

  private onMissFallback(hash: string, size: number): void {
    try {
      this.startFetch(hash, size);
    } catch (err) {
      this.native.blobReady(hash, osConstants.errno.EIO);
      this.reportError(hash, err);
    }
  }

  private startFetch(hash: string, size: number): void {
    if (this.closed) { this.native.blobReady(hash, osConstants.errno.EIO); return; }
    const dest = this.cache.pathOf(hash);
    const job = fetchWithRetry(this.opts.fetcher, hash, size, dest, {
      retries: this.opts.retries, timeoutMs: this.opts.fetchTimeoutMs, signal: this.abort.signal, observer: this.opts.fetchObserver,
    }).then(
      () => {
        this.cache.add(hash, size);
        this.native.blobReady(hash, 0);
        this.scheduleEviction();
      },
      (err: unknown) => {
        this.native.blobReady(hash, osConstants.errno.EIO);
        try { this.opts.onFetchError?.(hash, err); } catch { /* a logger must not break the mount */ }
      },
    );
    this.inflight.add(job);
    void job.finally(() => this.inflight.delete(job));
  }

  /** Evictions run one at a time, after feeding in the native layer's recent opens. */
  private scheduleEviction(): void {
    this.evicting = this.evicting.then(async () => {
      if (this.closed) return;
      this.collectAccesses(this.native.drainAccessed());
      if (this.cache.totalBytes + this.chunks.totalBytes <= this.cache.maxBytes) return;
      // Blob descriptors are kept after their files close (and open-less files after the
      // reading process is gone: the kernel sends no RELEASE): let go of those no read is
      // using, so that their blobs can go too.
      this.native.dropIdleFiles();
      // Partial blobs share the cap and go first (least recently used, none open), then whole ones.
      const open = new Set(this.native.openHashes());
      this.chunks.evict(Math.max(0, this.cache.maxBytes - this.cache.totalBytes), open);
      await this.cache.evict(open, Math.max(0, this.cache.maxBytes - this.chunks.totalBytes));
    }).catch(() => { /* eviction is best effort; the next one retries */ });
  }

  private assertOpen(): void {
    if (this.closed) throw new FuseClosedError();
  }
}

function positiveInteger(name: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value <= 0 || value > max) throw new UsageError(`${name} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${value}`);
}
