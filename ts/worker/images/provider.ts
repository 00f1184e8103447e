// The seam between the runner and where an image's files come from. Production uses the
// FUSE mount (fuse-provider.ts); tests use a plain directory (directory-provider.ts).
// Deliberately does not: run containers or mount overlays.
import type { ImageConfig } from '../../common/manifest.js';

/** Who is asking: the fileserver's answer to the user's token. */
export interface WorkerUser {
  name: string;
  role: string;
  /** The user's own token, for fileserver calls that must be made as the user. */
  token: string;
}

/** Cache counters of one image, summed since it was loaded. */
export interface CacheCounters {
  memoryHits: number;
  diskHits: number;
  serverFetches: number;
  bytesFetched: number;
  eios: number;
}

export interface PreparedImage {
  /** The image id (manifest hash) or, for a directory image, its name. */
  id: string;
  /** The image's name as the user gave it, for the run log. */
  ref: string;
  /** The overlay's lower directory. On the FUSE mount: this process must never read it. */
  root: string;
  config: ImageConfig;
  /** A regular file of the image (following symlinks), e.g. 'etc/passwd'; undefined when absent. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** Owner and mode of an entry (no symlink following), e.g. 'app'; undefined when absent. */
  stat(path: string): Promise<{ uid: number; gid: number; mode: number } | undefined>;
  /**
   * Where directory `path` of the image is, or would be created, resolved inside the image
   * (images/in-root.ts: '..' and symlinks never leave it): 'app' → 'srv/app' when /app is a
   * link to /srv/app; '' is the root. Undefined when an entry on the way is not a directory.
   */
  dirInRoot(path: string): Promise<string | undefined>;
  counters(): CacheCounters;
  /**
   * A run of this image begins: record what it reads for the image's start profile;
   * finish() (not awaited, never throws) stores it. Absent for images without profiles.
   */
  startRun?(): { finish(): void };
}

export interface ImageRootProvider {
  /** Make `ref` ready to run for `user` (who must be allowed to use it). */
  ensureImage(ref: string, user: WorkerUser): Promise<PreparedImage>;
  /** Release what the provider holds (unmount). */
  close(): Promise<void>;
}

export function zeroCounters(): CacheCounters {
  return { memoryHits: 0, diskHits: 0, serverFetches: 0, bytesFetched: 0, eios: 0 };
}

export function counterDelta(after: CacheCounters, before: CacheCounters): CacheCounters {
  return {
    memoryHits: after.memoryHits - before.memoryHits,
    diskHits: after.diskHits - before.diskHits,
    serverFetches: after.serverFetches - before.serverFetches,
    bytesFetched: after.bytesFetched - before.bytesFetched,
    eios: after.eios - before.eios,
  };
}
