// LazyFilesystem: the worker's handle on the native lazy FUSE mount. It validates every
// argument (the C++ trusts its input), turns manifests into native trees, and serves the
// native layer's misses: fetch with retries into the disk cache, then blobReady, then
// evict down to the cap. Deliberately does not: read the mount (see the deadlock rule in
// native/src/lazy_fs.h: this process serves the mount, so neither its main thread nor
// libuv's threadpool may touch it; run readers in other processes), build overlays, or
// decide which images to load.
import { stat, mkdir, realpath } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Manifest } from '../../common/manifest.js';
import { NotFoundError, UsageError } from '../../common/errors.js';
import { fetchWithRetry, type BlobFetcher } from './blob-fetcher.js';
import { DiskCache } from './disk-cache.js';
import { manifestToColumns } from './image-columns.js';
import { FuseClosedError, FuseMountError } from './errors.js';
import { loadAddon, type FsCounters, type NativeMount } from './native.js';

export type { FsCounters } from './native.js';
export type { BlobFetcher } from './blob-fetcher.js';

export interface LazyFilesystemOptions {
  /** An existing empty directory; a stale mount left there by a crash is cleared. */
  mountpoint: string;
  /** Disk cache of blobs, `ab/cd/<hash>`; must not be inside the mountpoint. */
  cacheDir: string;
  /** Cache size cap; least recently used blobs beyond it are evicted. Default 10 GiB. */
  cacheMaxBytes?: number;
  fetcher: BlobFetcher;
  /** Overall bound for one blob's fetch, all retries included; then EIO. Default 10 s. */
  fetchTimeoutMs?: number;
  /** Attempts after the first. Default 3. */
  retries?: number;
  /** FUSE session threads. Default 8. */
  threads?: number;
  /** Told about each blob that could not be fetched (the reader got EIO). */
  onFetchError?: (hash: string, err: unknown) => void;
}

const DEFAULTS = { cacheMaxBytes: 10 * 1024 ** 3, fetchTimeoutMs: 10_000, retries: 3, threads: 8 };
/** Directory names at the mount root: no slash, no dot names, printable. */
const NAME_RE = /^(?!\.\.?$)[A-Za-z0-9._:@+=-]{1,255}$/;

export class LazyFilesystem {
  private readonly names = new Map<string, string>(); // dir name -> image id
  private readonly aliasesOf = new Map<string, string[]>(); // image id -> all its dir names
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private evicting: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly mountpoint: string,
    private readonly native: NativeMount,
    private readonly cache: DiskCache,
    private readonly opts: Required<Omit<LazyFilesystemOptions, 'onFetchError'>> & Pick<LazyFilesystemOptions, 'onFetchError'>,
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
    const native = new NativeMount({ mountpoint, cacheDir, threads: opts.threads }, (hash, size) => fs!.onMiss(hash, size));
    fs = new LazyFilesystem(mountpoint, native, cache, { ...opts, mountpoint, cacheDir });
    try {
      native.mount();
    } catch (err) {
      native.unmount(); // releases the thread-safe function so the process can exit
      throw new FuseMountError((err as Error).message, { cause: err });
    }
    fs.scheduleEviction();
    return fs;
  }

  /** Present `manifest` at `<mountpoint>/<id>` and at `<mountpoint>/<alias>` for each alias. */
  loadImage(id: string, manifest: Manifest, aliases: string[] = []): void {
    this.assertOpen();
    const dirNames = [id, ...aliases];
    for (const name of dirNames) {
      if (typeof name !== 'string' || !NAME_RE.test(name)) throw new UsageError(`image directory name ${JSON.stringify(name)} is not allowed (letters, digits and ._:@+=- only)`);
      if (this.names.has(name)) throw new UsageError(`image directory name ${JSON.stringify(name)} is already in use by image ${this.names.get(name)}`);
    }
    if (new Set(dirNames).size !== dirNames.length) throw new UsageError('image id and aliases must be distinct');
    if (!manifest || !Array.isArray(manifest.entries)) throw new UsageError('manifest has no entries');
    const columns = manifestToColumns(manifest);
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

  /** Re-hash every cached blob and remove the ones that do not match. */
  async verifyCache(): Promise<{ checked: number; removed: number }> {
    // Serialized with evictions, so a blob evicted meanwhile is not reported as bad.
    const run = this.evicting.then(() => this.cache.verify());
    this.evicting = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Cache occupancy (for logs and tests). */
  cacheUsage(): { bytes: number; blobs: number; maxBytes: number } {
    return { bytes: this.cache.totalBytes, blobs: this.cache.count, maxBytes: this.cache.maxBytes };
  }

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
  }

  /** Called on the JS thread (through the thread-safe function) once per missing blob. */
  private onMiss(hash: string, size: number): void {
    // Never throw from here: an exception in a thread-safe-function callback is uncaught.
    try {
      this.startFetch(hash, size);
    } catch (err) {
      this.native.blobReady(hash, osConstants.errno.EIO);
      try { this.opts.onFetchError?.(hash, err); } catch { /* ignore */ }
    }
  }

  private startFetch(hash: string, size: number): void {
    if (this.closed) { this.native.blobReady(hash, osConstants.errno.EIO); return; }
    const dest = this.cache.pathOf(hash);
    const job = fetchWithRetry(this.opts.fetcher, hash, size, dest, {
      retries: this.opts.retries, timeoutMs: this.opts.fetchTimeoutMs, signal: this.abort.signal,
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
      this.cache.touch(this.native.drainAccessed());
      if (this.cache.totalBytes <= this.cache.maxBytes) return;
      await this.cache.evict(new Set(this.native.openHashes()));
    }).catch(() => { /* eviction is best effort; the next one retries */ });
  }

  private assertOpen(): void {
    if (this.closed) throw new FuseClosedError();
  }
}

function positiveInteger(name: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value <= 0 || value > max) throw new UsageError(`${name} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${value}`);
}
