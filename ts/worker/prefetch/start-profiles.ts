// Start profiles on the worker: record which blobs a run of an image read (first access
// first) and store that list on the fileserver (PUT /v1/profiles/:id, merged there); as
// soon as a run has resolved an image (its id is known, its manifest maybe not yet), fetch
// the run user's profile of it (hashes and sizes) and stream those blobs into the disk
// cache in a few parallel batches (LazyFilesystem.prefetch over POST
// /v1/blobs/fetch-batch) while the manifest loads and the container starts, instead of
// one request per file as the app opens them. Each blob is verified before it enters the
// cache; a reader missing a blob of a batch in flight joins it (bounded), anything else is
// an ordinary miss.
// Profiles are per user: a run's profile is read and written with the run user's own token,
// so the fileserver's per-user rules apply (a worker token has no profiles). Blobs are
// fetched with the worker's token, as every miss is. The first run of an image by a user
// after export has no profile: it records one.
// Files fetched by chunk (big ones, see docs/ARCHITECTURE.md, chunked fetch) enter the
// profile as the chunk runs a run missed, and are prefetched as those runs (Range
// requests) once the manifest, which holds their chunk hashes, is loaded.
// Deliberately does not: block a run on the profile or the prefetch (both run beside it),
// decide access (the fileserver does), or keep a user's token past the call that needs it.
// Accesses are recorded mount-wide, so a run that overlapped another user's run of the same
// image stores nothing: its recording holds the other's reads.
import { FileserverClient, type FileserverClientOptions } from '../../common/fileserver-client.js';
import type { LazyFilesystem, PrefetchOptions, PrefetchResult } from '../fuse/lazy-fs.js';
import { indicesOf } from '../../common/start-profile.js';

/** The run's user, as the worker knows them (WorkerUser). */
export interface ProfileUser { name: string; token: string }

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

/** What the worker knows of one image, whoever runs it. */
interface ImageState {
  /**
   * The manifest's non-empty file blobs, made on first use (a run's end), not at load: a
   * cold start waits for the load. Empty until the manifest is loaded.
   */
  fileHashes: () => ReadonlySet<string>;
  /** Prefetched bytes no reader waited for (the native counters do not count them). */
  unjoinedBytes: number;
  /** Resolved once the manifest is loaded on the mount (its chunk lists are known then). */
  loaded: Promise<void>;
  markLoaded: () => void;
}

/** What the worker knows of one user's profile of one image. */
interface ProfileState {
  /** Hashes the stored profile is known to hold (what we fetched or last stored). */
  known: Set<string>;
  /** Chunks (`hash:index`) the stored profile is known to hold. */
  knownChunks: Set<string>;
  prefetch?: Promise<PrefetchResult | undefined>;
}

/** How long a chunk prefetch waits for the image's manifest to load before giving up. */
const CHUNK_PREFETCH_WAIT_MS = 30_000;

export class StartProfiles {
  private readonly images = new Map<string, ImageState>();
  /** By image id and user name. */
  private readonly profiles = new Map<string, ProfileState>();
  /** Runs recording now, by image id; `mixed`: another user's run of it overlapped. */
  private readonly running = new Map<string, Set<{ user: string; mixed: boolean }>>();
  private readonly log: (line: string) => void;
  readonly prefetchEnabled: boolean;
  readonly recordEnabled: boolean;

  /**
   * `fileserver` is the worker's own client (blobs); `access` makes a client with a run
   * user's token (profiles).
   */
  constructor(
    private readonly fs: LazyFilesystem,
    private readonly fileserver: FileserverClient,
    private readonly access: Pick<FileserverClientOptions, 'url' | 'caFile' | 'pool'>,
    private readonly opts: StartProfilesOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
    this.prefetchEnabled = opts.prefetch ?? true;
    this.recordEnabled = opts.record ?? true;
  }

  /**
   * `user` resolved image `id`, maybe not loaded yet: the first time for this user, start
   * the prefetch of their profile now (in the background), beside the manifest's fetch and
   * load, which take a few hundred ms of a cold start. Blobs already cached are skipped.
   */
  imageResolved(id: string, user: ProfileUser): void {
    this.profileOf(id, user);
  }

  /**
   * An image was just loaded on the mount. `fileBlobs` lists its non-empty file contents;
   * it is called once, at a run's end.
   */
  imageLoaded(id: string, fileBlobs: () => ReadonlySet<string>): void {
    const image = this.imageOf(id);
    let hashes: ReadonlySet<string> | undefined;
    image.fileHashes = () => (hashes ??= fileBlobs());
    image.markLoaded();
  }

  private imageOf(id: string): ImageState {
    let image = this.images.get(id);
    if (!image) {
      let markLoaded!: () => void;
      const loaded = new Promise<void>((resolve) => { markLoaded = resolve; });
      image = { fileHashes: () => new Set(), unjoinedBytes: 0, loaded, markLoaded };
      this.images.set(id, image);
    }
    return image;
  }

  private profileOf(id: string, user: ProfileUser): ProfileState {
    const key = `${id}\n${user.name}`;
    let state = this.profiles.get(key);
    if (state) return state;
    const image = this.imageOf(id);
    state = { known: new Set(), knownChunks: new Set() };
    this.profiles.set(key, state);
    if (this.prefetchEnabled) {
      state.prefetch = this.prefetchImage(id, user, image, state).catch((err: Error) => {
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

  /** Wait for the prefetch of a user's profile of an image (tests, logs); undefined when none ran. */
  async prefetchDone(id: string, userName: string): Promise<PrefetchResult | undefined> {
    return this.profiles.get(`${id}\n${userName}`)?.prefetch;
  }

  /**
   * Record the blobs and chunks of image `id` read from now on; finish() stores those
   * `user`'s profile lacks, as `user`, unless another user's run of the image overlapped.
   * finish() never throws (a profile is an optimisation).
   */
  startRun(id: string, user: ProfileUser): { finish(): Promise<void> } {
    if (!this.recordEnabled) return { finish: async () => {} };
    const image = this.imageOf(id);
    const state = this.profileOf(id, user);
    const run = { user: user.name, mixed: false };
    const runs = this.running.get(id) ?? new Set();
    this.running.set(id, runs);
    for (const other of runs) if (other.user !== run.user) other.mixed = run.mixed = true;
    runs.add(run);
    const recording = this.fs.recordAccesses();
    return {
      finish: async () => {
        runs.delete(run);
        if (!runs.size && this.running.get(id) === runs) this.running.delete(id);
        const ofImage = image.fileHashes();
        const chunks = recording.chunks().filter((c) => ofImage.has(c.hash));
        const used = recording.stop().filter((h) => ofImage.has(h));
        if (run.mixed) {
          this.log(`start profile of image ${id.slice(0, 12)} not stored: another user's run of it overlapped this one`);
          return;
        }
        const newChunks = chunks.filter((c) => indicesOf(c.runs).some((i) => !state.knownChunks.has(`${c.hash}:${i}`)));
        if (!used.some((h) => !state.known.has(h)) && !newChunks.length) return;
        try {
          const stored = await this.asUser(user, (client) => client.putProfile(id, used, chunks));
          for (const h of stored) state.known.add(h);
          for (const c of chunks) for (const i of indicesOf(c.runs)) state.knownChunks.add(`${c.hash}:${i}`);
          this.log(`start profile of image ${id.slice(0, 12)}: ${stored.length} blobs stored, chunks of ${chunks.length} files read by chunk`);
        } catch (err) {
          this.log(`start profile of image ${id.slice(0, 12)} not stored: ${(err as Error).message}`);
        }
      },
    };
  }

  /** A call to the fileserver with `user`'s token (on the worker's connection pool). */
  private async asUser<T>(user: ProfileUser, call: (client: FileserverClient) => Promise<T>): Promise<T> {
    const client = new FileserverClient({ ...this.access, token: user.token });
    try { return await call(client); } finally { await client.close(); }
  }

  private async prefetchImage(id: string, user: ProfileUser, image: ImageState, state: ProfileState): Promise<PrefetchResult | undefined> {
    const started = Date.now();
    const profile = await this.asUser(user, (client) => client.getStartProfile(id));
    if (!profile) {
      this.log(`image ${id.slice(0, 12)} has no start profile of this user yet (their first run records one)`);
      return undefined;
    }
    for (const b of profile.blobs) state.known.add(b.hash);
    for (const c of profile.chunks) for (const i of indicesOf(c.runs)) state.knownChunks.add(`${c.hash}:${i}`);
    // The manifest may not be here yet: the fileserver accepted only file blobs of this image
    // into the profile (PUT checks), and every blob is verified against its hash on arrival.
    const whole = this.fs.prefetch(profile.blobs, (hashes, onBlob, o) => this.fileserver.fetchBatch(hashes, onBlob, { ...o, acceptGzip: this.opts.acceptGzip ?? true }), {
      ...this.opts.prefetchOptions,
      onWritten: (_hash, size, joined) => { if (!joined) image.unjoinedBytes += size; },
    });
    // Chunks are verified against the manifest's chunk lists: they wait for it to load.
    const wholeHashes = new Set(profile.blobs.map((b) => b.hash));
    const chunked = profile.chunks.filter((c) => !wholeHashes.has(c.hash));
    const byChunk = chunked.length && await waitAtMost(image.loaded, CHUNK_PREFETCH_WAIT_MS)
      ? this.fs.prefetchChunks(chunked, { onFetched: (bytes) => { image.unjoinedBytes += bytes; } })
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
