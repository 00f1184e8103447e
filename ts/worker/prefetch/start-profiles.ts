// Start profiles on the worker: record which blobs a run of an image read (first access
// first) and store that list on the fileserver (PUT /v1/profiles/:id, merged there); as
// soon as a run has resolved an image this worker has not loaded (its id is known, its
// manifest not yet), fetch its profile (hashes and sizes) and stream those blobs into the
// disk cache in a few parallel batches (LazyFilesystem.prefetch over POST
// /v1/blobs/fetch-batch) while the manifest loads and the container starts, instead of
// one request per file as the app opens them. Each blob is verified before it enters the
// cache; a reader missing a blob of a batch in flight joins it (bounded), anything else is
// an ordinary miss.
// The first run of an image after export has no profile: it records one.
// Files fetched by chunk (big ones, see docs/ARCHITECTURE.md, chunked fetch) enter the
// profile as the chunk runs a run missed, and are prefetched as those runs (Range
// requests) once the manifest, which holds their chunk hashes, is loaded.
// Deliberately does not: block a run on the profile or the prefetch (both run beside it),
// or decide access (the fileserver does: the worker's token reads and writes profiles).
import type { FileserverClient } from '../../common/fileserver-client.js';
import type { LazyFilesystem, PrefetchOptions, PrefetchResult } from '../fuse/lazy-fs.js';
import { indicesOf } from '../../common/start-profile.js';

export interface StartProfilesOptions {
  /** Fetch an image's profile at load and prefetch its blobs. Default true. */
  prefetch?: boolean;
  /** Record runs' accesses and store them as profiles. Default true. */
  record?: boolean;
  /** Passed to LazyFilesystem.prefetch (concurrency, batch size, deadline, join bound). */
  prefetchOptions?: Omit<PrefetchOptions, 'onWritten' | 'signal'>;
  /** Take the fileserver's gzip copies of prefetched blobs (default true). */
  acceptGzip?: boolean;
  log?: (line: string) => void;
}

/** What the worker knows of one loaded image for profiles. */
interface ImageProfileState {
  /**
   * The manifest's non-empty file blobs, made on first use (a run's end), not at load: a
   * cold start waits for the load. Empty until the manifest is loaded.
   */
  fileHashes: () => ReadonlySet<string>;
  /** Hashes the stored profile is known to hold (what we fetched or last stored). */
  known: Set<string>;
  /** Chunks (`hash:index`) the stored profile is known to hold. */
  knownChunks: Set<string>;
  /** Prefetched bytes no reader waited for (the native counters do not count them). */
  unjoinedBytes: number;
  prefetch?: Promise<PrefetchResult | undefined>;
  /** Resolved once the manifest is loaded on the mount (its chunk lists are known then). */
  loaded: Promise<void>;
  markLoaded: () => void;
}

/** How long a chunk prefetch waits for the image's manifest to load before giving up. */
const CHUNK_PREFETCH_WAIT_MS = 30_000;

export class StartProfiles {
  private readonly images = new Map<string, ImageProfileState>();
  private readonly log: (line: string) => void;
  readonly prefetchEnabled: boolean;
  readonly recordEnabled: boolean;

  constructor(private readonly fs: LazyFilesystem, private readonly fileserver: FileserverClient, private readonly opts: StartProfilesOptions = {}) {
    this.log = opts.log ?? (() => {});
    this.prefetchEnabled = opts.prefetch ?? true;
    this.recordEnabled = opts.record ?? true;
  }

  /**
   * A run resolved image `id`, which is not loaded yet: start its prefetch now (in the
   * background), beside the manifest's fetch and load, which take a few hundred ms of a cold start.
   */
  imageResolved(id: string): void {
    this.stateOf(id);
  }

  /**
   * An image was just loaded on the mount: its prefetch starts now unless it has already.
   * `fileBlobs` lists its non-empty file contents; it is called once, at a run's end.
   */
  imageLoaded(id: string, fileBlobs: () => ReadonlySet<string>): void {
    const state = this.stateOf(id);
    let hashes: ReadonlySet<string> | undefined;
    state.fileHashes = () => (hashes ??= fileBlobs());
    state.markLoaded();
  }

  private stateOf(id: string): ImageProfileState {
    let state = this.images.get(id);
    if (state) return state;
    let markLoaded!: () => void;
    const loaded = new Promise<void>((resolve) => { markLoaded = resolve; });
    state = { fileHashes: () => new Set(), known: new Set(), knownChunks: new Set(), unjoinedBytes: 0, loaded, markLoaded };
    this.images.set(id, state);
    if (this.prefetchEnabled) {
      state.prefetch = this.prefetchImage(id, state).catch((err: Error) => {
        this.log(`prefetch of image ${id.slice(0, 12)} failed, misses fetch one by one: ${err.message}`);
        return undefined;
      });
    }
    return state;
  }

  /** Bytes this image's prefetches wrote that no reader waited for (add to bytesFetched). */
  prefetchedBytes(id: string): number {
    return this.images.get(id)?.unjoinedBytes ?? 0;
  }

  /** Wait for an image's prefetch (tests, logs); undefined when none ran. */
  async prefetchDone(id: string): Promise<PrefetchResult | undefined> {
    return this.images.get(id)?.prefetch;
  }

  /**
   * Record the blobs and chunks of image `id` read from now on; finish() stores those its
   * profile lacks. finish() never throws (a profile is an optimisation).
   */
  startRun(id: string): { finish(): Promise<void> } {
    const state = this.images.get(id);
    if (!this.recordEnabled || !state) return { finish: async () => {} };
    const recording = this.fs.recordAccesses();
    return {
      finish: async () => {
        const ofImage = state.fileHashes();
        const chunks = recording.chunks().filter((c) => ofImage.has(c.hash));
        const used = recording.stop().filter((h) => ofImage.has(h));
        const newChunks = chunks.filter((c) => indicesOf(c.runs).some((i) => !state.knownChunks.has(`${c.hash}:${i}`)));
        if (!used.some((h) => !state.known.has(h)) && !newChunks.length) return;
        try {
          const stored = await this.fileserver.putProfile(id, used, chunks);
          for (const h of stored) state.known.add(h);
          for (const c of chunks) for (const i of indicesOf(c.runs)) state.knownChunks.add(`${c.hash}:${i}`);
          this.log(`start profile of image ${id.slice(0, 12)}: ${stored.length} blobs stored, chunks of ${chunks.length} files read by chunk`);
        } catch (err) {
          this.log(`start profile of image ${id.slice(0, 12)} not stored: ${(err as Error).message}`);
        }
      },
    };
  }

  private async prefetchImage(id: string, state: ImageProfileState): Promise<PrefetchResult | undefined> {
    const started = Date.now();
    const profile = await this.fileserver.getStartProfile(id);
    if (!profile) {
      this.log(`image ${id.slice(0, 12)} has no start profile yet (its first run records one)`);
      return undefined;
    }
    for (const b of profile.blobs) state.known.add(b.hash);
    for (const c of profile.chunks) for (const i of indicesOf(c.runs)) state.knownChunks.add(`${c.hash}:${i}`);
    // The manifest may not be here yet: the fileserver accepted only file blobs of this image
    // into the profile (PUT checks), and every blob is verified against its hash on arrival.
    const whole = this.fs.prefetch(profile.blobs, (hashes, onBlob, o) => this.fileserver.fetchBatch(hashes, onBlob, { ...o, acceptGzip: this.opts.acceptGzip ?? true }), {
      ...this.opts.prefetchOptions,
      onWritten: (_hash, size, joined) => { if (!joined) state.unjoinedBytes += size; },
    });
    // Chunks are verified against the manifest's chunk lists: they wait for it to load.
    const wholeHashes = new Set(profile.blobs.map((b) => b.hash));
    const chunked = profile.chunks.filter((c) => !wholeHashes.has(c.hash));
    const byChunk = chunked.length && await waitAtMost(state.loaded, CHUNK_PREFETCH_WAIT_MS)
      ? this.fs.prefetchChunks(chunked, { onFetched: (bytes) => { state.unjoinedBytes += bytes; } })
      : undefined;
    const [result, chunks] = await Promise.all([whole, byChunk]);
    this.log(`prefetch of image ${id.slice(0, 12)}: ${result.fetched} blobs, ${(result.bytes / 1e6).toFixed(1)} MB${chunks ? ` and ${chunks.runs} chunk runs of ${chunked.length} files read by chunk, ${(chunks.bytes / 1e6).toFixed(1)} MB,` : ''} in ${Date.now() - started} ms (${result.joined} joined by readers, ${result.skipped} already cached, ${result.failed} left to misses)`);
    return result;
  }
}

/** True once `p` resolves, false if it has not within `ms`. */
function waitAtMost(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    void p.then(() => { clearTimeout(timer); resolve(true); });
  });
}
