// Production images: each is a directory of the worker's lazy FUSE mount, loaded from its
// manifest on first use. The image reference is resolved on the fileserver WITH THE
// USER'S TOKEN (so a user runs only images they may use); the manifest is fetched with
// the worker's token and kept on disk by id; start profiles are the user's own (with the
// user's token, prefetch/start-profiles.ts). Files the runner needs before the container
// starts (/etc/passwd, /etc/group) are found in the manifest and read from the disk
// cache, or fetched by hash and verified: never through the mount, which this process
// serves (deadlock rule).
// While the fileserver is unreachable, the id a user's reference last resolved to stands
// in (this process's memory only), so cached images keep running through an outage.
// At start, the images used last are loaded again from their stored manifests (preloadStored).
// Deliberately does not: unload images (they stay until the worker stops) or mount FUSE.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileserverClient, type FileserverClientOptions } from '../../common/fileserver-client.js';
import { NotFoundError, RemoteError, HashMismatchError, UnreachableError } from '../../common/errors.js';
import { fanoutPath, sha256 } from '../../common/hash.js';
import { fileBlobsOf, readManifestTable, type ManifestTable } from '../../common/manifest.js';
import type { LazyFilesystem } from '../fuse/lazy-fs.js';
import type { StartProfiles } from '../prefetch/start-profiles.js';
import { ManifestIndex } from './manifest-index.js';
import { ManifestStore } from './manifest-store.js';
import type { CacheCounters, ImageRootProvider, PreparedImage, WorkerUser } from './provider.js';

export interface FuseImageProviderOptions {
  fs: LazyFilesystem;
  /** The worker's own client (role `worker`): manifests and blobs. */
  fileserver: FileserverClient;
  /** For per-user clients: url and CA of the same fileserver. */
  fileserverAccess: Pick<FileserverClientOptions, 'url' | 'caFile' | 'pool'>;
  manifestsDir: string;
  /** The FUSE disk cache directory (blobs at ab/cd/<hash>), read for small files. */
  cacheDir: string;
  /** Start profiles: prefetch at load, record runs (absent: neither). */
  profiles?: StartProfiles;
}

interface LoadedImage { id: string; table: ManifestTable; index: ManifestIndex; files: Map<string, Promise<Buffer | undefined>> }

export class FuseImageProvider implements ImageRootProvider {
  private readonly loaded = new Map<string, Promise<LoadedImage>>();
  /** (token hash, ref) → id last answered: stands in while the fileserver is unreachable. */
  private readonly lastResolved = new Map<string, string>();
  private readonly manifests: ManifestStore<ManifestTable>;
  /** Profile uploads still in flight (close() waits for them). */
  private readonly profileUploads = new Set<Promise<void>>();

  constructor(private readonly opts: FuseImageProviderOptions) {
    this.manifests = new ManifestStore(opts.manifestsDir, async (id) => (await opts.fileserver.getManifest(id)).blob, readManifestTable);
  }

  async ensureImage(ref: string, user: WorkerUser): Promise<PreparedImage> {
    const id = await this.resolveForUser(ref, user);
    // This user's profile of it streams in while the manifest loads (once per user and image).
    this.opts.profiles?.imageResolved(id, user);
    let loading = this.loaded.get(id);
    if (!loading) {
      loading = this.load(id);
      this.loaded.set(id, loading);
      loading.catch(() => this.loaded.delete(id)); // a failed load is retried next time
    }
    const image = await loading;
    const fs = this.opts.fs;
    return {
      id, ref,
      root: fs.imageRoot(id),
      config: image.table.config,
      readFile: (path) => this.readImageFile(image, path),
      stat: async (path) => {
        const e = image.index.entry(path);
        return e ? { uid: e.uid, gid: e.gid, mode: e.mode } : undefined;
      },
      dirInRoot: async (path) => {
        const real = image.index.resolvePath(path);
        if (real === undefined) return undefined;
        const e = image.index.entry(real);
        return !e || e.type === 'dir' ? real : undefined;
      },
      counters: (): CacheCounters => {
        const s = fs.stats(id);
        // Prefetched bytes no reader waited for are fetched too, though no miss counted them.
        const prefetched = this.opts.profiles?.prefetchedBytes(id) ?? 0;
        return { memoryHits: s.memoryHits, diskHits: s.diskHits, serverFetches: s.serverFetches, bytesFetched: s.bytesFetched + prefetched, eios: s.eios };
      },
      startRun: () => {
        const recording = this.opts.profiles?.startRun(id, user);
        return {
          finish: () => {
            if (!recording) return;
            const upload = recording.finish();
            this.profileUploads.add(upload);
            void upload.finally(() => this.profileUploads.delete(upload));
          },
        };
      },
    };
  }

  /**
   * Load the images this worker used last from their stored manifests, without the
   * network, so that a restarted worker answers their first run as fast as a worker that
   * never stopped. Users still need the fileserver's say-so to run them (resolveForUser).
   * An image asked for meanwhile waits for its load here instead of loading twice.
   */
  async preloadStored(limit: number): Promise<string[]> {
    const ids = await this.manifests.recent(limit);
    const done: string[] = [];
    for (const id of ids) { // one at a time: a load is CPU-bound, and runs may be starting
      if (this.loaded.has(id)) continue;
      const loading = this.manifests.getStored(id).then((m) => {
        if (!m) throw new NotFoundError(`stored manifest ${id} is gone or bad`);
        return this.loadManifest(id, m);
      });
      this.loaded.set(id, loading);
      try { await loading; done.push(id); } catch { this.loaded.delete(id); }
    }
    return done;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.profileUploads]);
    await this.opts.fs.unmount();
    await this.opts.fileserver.close();
  }

  private async resolveForUser(ref: string, user: WorkerUser): Promise<string> {
    const client = new FileserverClient({ ...this.opts.fileserverAccess, token: user.token });
    const key = `${sha256(user.token)}\n${ref}`;
    try {
      const { id } = await client.resolveImage(ref);
      if (this.lastResolved.size >= 10_000) this.lastResolved.clear();
      this.lastResolved.set(key, id);
      return id;
    } catch (err) {
      if (err instanceof RemoteError && err.status === 404) { this.lastResolved.delete(key); throw new NotFoundError(`unknown image ${JSON.stringify(ref)} (export it first, or check the name)`); }
      const known = this.lastResolved.get(key);
      if (err instanceof UnreachableError && known) return known;
      throw err;
    } finally {
      await client.close();
    }
  }

  private async load(id: string): Promise<LoadedImage> {
    return this.loadManifest(id, await this.manifests.get(id));
  }

  private loadManifest(id: string, table: ManifestTable): LoadedImage {
    this.opts.fs.loadTable(id, table);
    this.opts.profiles?.imageLoaded(id, () => fileBlobsOf(table));
    return { id, table, index: new ManifestIndex(table), files: new Map() };
  }

  /** A small file's bytes by its manifest hash: from the disk cache, else fetched; verified. */
  private readImageFile(image: LoadedImage, path: string): Promise<Buffer | undefined> {
    const hash = image.index.resolveFile(path)?.hash;
    if (!hash) return Promise.resolve(undefined);
    // Read before every container start: into the start profiles being recorded (each run's,
    // though the bytes are memoised), first, so that the next cold start has it from the
    // prefetch's first batch instead of a request of its own.
    this.opts.fs.noteAccess([hash]);
    let p = image.files.get(path);
    if (!p) {
      p = (async () => {
        await this.opts.fs.afterPrefetchOf(hash);
        const cached = await readFile(join(this.opts.cacheDir, fanoutPath(hash))).catch(() => undefined);
        if (cached && sha256(cached) === hash) return cached;
        const res = await this.opts.fileserver.http.request(`/v1/blobs/${hash}`);
        const content = Buffer.from(await res.body.arrayBuffer());
        const actual = sha256(content);
        if (actual !== hash) throw new HashMismatchError(hash, actual, `image file ${path}`);
        return content;
      })();
      image.files.set(path, p);
      p.catch(() => image.files.delete(path));
    }
    return p;
  }
}
