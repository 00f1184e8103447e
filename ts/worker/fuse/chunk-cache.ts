// Partially cached blobs (issue 5, partial fetches): for a file whose manifest carries
// chunk hashes (ts/common/manifest.ts), the native layer asks for the chunks a read
// touches (native/src/chunk_map.h); this class fetches them with one Range request per
// run of missing chunks, verifies every chunk against its hash before writing it at its
// offset into a sparse file `<cacheDir>/partial/ab/cd/<hash>`, and answers chunksReady.
// When every chunk is present the file is hashed whole and, matching its name, moved
// into the disk cache proper: from then on it is an ordinary blob.
//
// Presence on disk: `<hash>.chunks` beside the data holds a header line (size, chunk
// size, the chunk hashes) and one line per chunk written. After a restart the listed
// chunks are re-hashed at the blob's first use and only matching ones count, so an
// interrupted write, a lost line or a torn page never serves a wrong byte (hence no
// fsync here). A chunk list that differs from the one a loaded manifest gives drops the
// partial file. Accounting counts a partial blob by the bytes of its present chunks.
//
// Deliberately does not: touch the mount (see the deadlock rule in native/src/lazy_fs.h),
// own the retry policy (fetchWithRetry does; a run's completion is signalled to it by
// an empty marker file of the run's length, its "destPath holds size bytes" contract),
// or evict whole blobs (DiskCache does; the owner evicts partial ones first).
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { FileserverClient } from '../../common/fileserver-client.js';
import { fanoutPath, sha256, sha256File } from '../../common/hash.js';
import type { ChunkHashes } from '../../common/manifest.js';
import { fetchWithRetry, type BlobFetcher, type RetryPolicy } from './blob-fetcher.js';
import type { ImageColumns } from './native.js';

export const PARTIAL_DIR = 'partial';
/** Readahead on a sequential streak of misses doubles per miss up to this many chunks (4 MiB). */
const MAX_READAHEAD_CHUNKS = 16;
const SIDECAR_SUFFIX = '.chunks';
const HASH_NAME = /^[0-9a-f]{64}$/;

/** Fetches consecutive chunks of a blob, verifying each against its hash before onChunk. */
export interface ChunkFetcher {
  fetchChunks(hash: string, o: { size: number; chunkSize: number; first: number; hashes: string[]; signal: AbortSignal },
    onChunk: (index: number, bytes: Buffer) => Promise<void> | void): Promise<void>;
}

/** The production chunk fetcher: GET /v1/blobs/:hash with a Range, over pooled HTTPS. */
export class FileserverChunkFetcher implements ChunkFetcher {
  constructor(private readonly client: FileserverClient) {}
  fetchChunks(...args: Parameters<ChunkFetcher['fetchChunks']>): Promise<void> {
    return this.client.fetchBlobChunks(...args);
  }
}

interface ChunkList { size: number; chunkSize: number; hashes: string[] }

interface PartialBlob {
  list: ChunkList;
  present: Uint8Array;
  presentCount: number;
  presentBytes: number;
  /** Listed on disk by an earlier run of the worker, not yet re-hashed. */
  listedUnverified: number[] | undefined;
  verifying?: Promise<void>;
  /** Runs in flight writing into it (never evicted meanwhile). */
  busy: number;
  /**
   * Sequential misses: the last readahead window [windowStart, nextSequential) and how
   * many misses in a row started where the window before them ended.
   */
  windowStart: number;
  nextSequential: number;
  streak: number;
  promoting?: Promise<void>;
}

/** A partial blob with no chunk present yet (listed: chunks a file on disk says it holds). */
function newPartial(list: ChunkList, listed: number[] | undefined): PartialBlob {
  return { list, present: new Uint8Array(list.hashes.length), presentCount: 0, presentBytes: 0, listedUnverified: listed, busy: 0, windowStart: -1, nextSequential: -1, streak: 0 };
}

/** What the owner needs from the native mount and the whole-blob cache. */
export interface ChunkCacheHost {
  chunksReady(hash: string, first: number, count: number, errno: number, fetchedBytes: number): void;
  /** The complete, verified blob is at wholePath(hash): account for it. */
  addWhole(hash: string, size: number): void;
  /** The whole blob is in the disk cache (a partial blob completed meanwhile). */
  hasWhole(hash: string): boolean;
  wholePath(hash: string): string;
  onFetchError(hash: string, err: unknown): void;
}

export class ChunkCache {
  private readonly lists = new Map<string, ChunkList>();
  /** Map order is recency order (oldest first). */
  private readonly partials = new Map<string, PartialBlob>();
  private readonly inflight = new Map<string, Promise<boolean>>(); // `${hash}:${index}` -> chunk verified and written
  private bytes = 0;
  /** Chunk runs fetched (Range requests that succeeded) and their bytes: for tests and logs. */
  readonly fetched = { runs: 0, bytes: 0 };

  private constructor(readonly dir: string) {}

  /** Index `<cacheDir>/partial`; stray files (markers, half-created pairs) are removed. */
  static async open(cacheDir: string): Promise<ChunkCache> {
    const cache = new ChunkCache(join(cacheDir, PARTIAL_DIR));
    await mkdir(cache.dir, { recursive: true });
    for (const a of await readdir(cache.dir)) {
      for (const b of await readdir(join(cache.dir, a)).catch(() => [] as string[])) {
        const sub = join(cache.dir, a, b);
        const names = new Set(await readdir(sub).catch(() => [] as string[]));
        for (const name of names) {
          const path = join(sub, name);
          if (HASH_NAME.test(name) && names.has(name + SIDECAR_SUFFIX)) {
            const loaded = await readSidecar(path + SIDECAR_SUFFIX).catch(() => undefined);
            if (loaded) { cache.adopt(name, loaded.list, loaded.listed); continue; }
          }
          if (name.endsWith(SIDECAR_SUFFIX) && names.has(name.slice(0, -SIDECAR_SUFFIX.length)) && HASH_NAME.test(name.slice(0, -SIDECAR_SUFFIX.length))) continue;
          await rm(path, { force: true, recursive: true });
        }
      }
    }
    return cache;
  }

  get totalBytes(): number { return this.bytes; }
  get count(): number { return this.partials.size; }
  dataPath(hash: string): string { return join(this.dir, fanoutPath(hash)); }
  /** The chunk list a loaded manifest gave `hash`: its size, chunk size and chunk count. */
  listOf(hash: string): { size: number; chunkSize: number; chunks: number } | undefined {
    const list = this.lists.get(hash);
    return list && { size: list.size, chunkSize: list.chunkSize, chunks: list.hashes.length };
  }
  /** Chunks of `hash` known present (verified this run, or listed and not yet re-hashed). */
  presentChunks(hash: string): number { return this.partials.get(hash)?.presentCount ?? 0; }

  /**
   * Take the chunk lists of a manifest being loaded (`sizes`: each listed content's size).
   * Returns the contents that files of this image may fetch by chunk: a list that disagrees
   * with one already taken (another image's) is not used here, so no image reads chunks
   * verified against another's list.
   */
  register(chunks: ChunkHashes | undefined, sizes: ReadonlyMap<string, number>): Set<string> {
    const usable = new Set<string>();
    if (!chunks) return usable;
    for (const [hash, hashes] of Object.entries(chunks.byBlob)) {
      const size = sizes.get(hash);
      if (size === undefined) continue; // decoding refuses such a manifest
      const list: ChunkList = { size, chunkSize: chunks.chunkSize, hashes };
      const known = this.lists.get(hash);
      if (known && !sameList(known, list)) continue;
      const partial = this.partials.get(hash);
      if (!known && partial && !sameList(partial.list, list)) this.drop(hash); // written for another list
      this.lists.set(hash, known ?? list);
      usable.add(hash);
    }
    return usable;
  }

  /** chunkSizes column for the native tree: the chunk size for files fetched by chunk. */
  static chunkSizes(columns: ImageColumns, usable: Set<string>, chunkSize: number): Uint32Array {
    const out = new Uint32Array(columns.hashes.length);
    columns.hashes.forEach((h, i) => { if (h && usable.has(h)) out[i] = chunkSize; });
    return out;
  }

  /**
   * A native miss: chunks [first, first + count) of `hash`. Fetches what is missing (plus
   * a bounded readahead on sequential access), joins chunks already in flight, then
   * answers every asked chunk with chunksReady. Never throws.
   */
  async serve(host: ChunkCacheHost, fetcher: ChunkFetcher, policy: RetryPolicy, hash: string, size: number, chunkSize: number, first: number, count: number): Promise<void> {
    const ok = new Array<boolean>(count).fill(false);
    try {
      const list = this.lists.get(hash);
      if (!list || list.size !== size || list.chunkSize !== chunkSize || first + count > list.hashes.length) {
        throw new Error(`no chunk list for blob ${hash} of ${size} bytes in ${chunkSize}-byte chunks`);
      }
      if (host.hasWhole(hash)) { ok.fill(true); throw undefined; } // native then opens the whole blob
      const partial = await this.partialFor(hash, list);
      this.touch(hash);
      const n = list.hashes.length;
      let end = first + count;
      // A miss that starts where the previous one (with its readahead) ended continues a
      // sequential read: read ahead 2, 4, 8... chunks, up to the next chunk that is present
      // or coming. A miss inside that window (reads reaching chunks already coming) only
      // joins them. Any other miss is a random access, such as mmap's page faults in a
      // shared library (the kernel already reads 128 KiB around each): no readahead, so
      // that only what is touched travels (docs/ARCHITECTURE.md "Partial fetches").
      if (!(first > partial.windowStart && first < partial.nextSequential)) {
        partial.streak = first > 0 && first === partial.nextSequential ? partial.streak + 1 : 0;
        if (partial.streak > 0) {
          const limit = Math.min(n, end + Math.min(MAX_READAHEAD_CHUNKS, 2 ** partial.streak));
          while (end < limit && !partial.present[end] && !this.inflight.has(`${hash}:${end}`)) end++;
        }
        partial.windowStart = first;
        partial.nextSequential = end;
      }
      // Runs of chunks neither present nor in flight: one fetch each.
      let runStart = -1;
      const runs: Array<[number, number]> = [];
      for (let i = first; i <= end; i++) {
        const need = i < end && !partial.present[i] && !this.inflight.has(`${hash}:${i}`);
        if (need && runStart < 0) runStart = i;
        if (!need && runStart >= 0) { runs.push([runStart, i - runStart]); runStart = -1; }
      }
      for (const [runFirst, runCount] of runs) {
        const run = this.fetchRun(host, fetcher, policy, hash, list, partial, runFirst, runCount);
        for (let i = runFirst; i < runFirst + runCount; i++) {
          const key = `${hash}:${i}`;
          const done = run.then(() => partial.present[i] === 1, () => partial.present[i] === 1);
          this.inflight.set(key, done);
          void done.finally(() => { if (this.inflight.get(key) === done) this.inflight.delete(key); });
        }
      }
      for (let i = first; i < first + count; i++) {
        ok[i - first] = partial.present[i] === 1 || (await (this.inflight.get(`${hash}:${i}`) ?? Promise.resolve(false))) || partial.present[i] === 1;
      }
    } catch (err) {
      if (err !== undefined) host.onFetchError(hash, err);
    }
    // Answer in runs of equal outcome (fetchRun reported the bytes it fetched itself).
    let at = 0;
    while (at < count) {
      let len = 1;
      while (at + len < count && ok[at + len] === ok[at]) len++;
      host.chunksReady(hash, first + at, len, ok[at] ? 0 : osConstants.errno.EIO, 0);
      at += len;
    }
    const partial = this.partials.get(hash);
    if (partial && partial.presentCount === partial.list.hashes.length && !partial.promoting && !partial.listedUnverified) {
      partial.promoting = this.promote(host, hash, partial);
      await partial.promoting;
    }
  }

  /** Remove least recently used partial blobs not open nor busy until at most `limit` bytes remain. */
  evict(limit: number, open: ReadonlySet<string>): string[] {
    const removed: string[] = [];
    for (const [hash, p] of this.partials) {
      if (this.bytes <= limit) break;
      if (open.has(hash) || p.busy > 0 || p.promoting || p.verifying) continue;
      this.drop(hash);
      removed.push(hash);
    }
    return removed;
  }

  /** Re-hash the present chunks of every partial blob; drop blobs with a bad one. */
  async verify(): Promise<{ checked: number; removed: number }> {
    let checked = 0;
    let removed = 0;
    for (const [hash, p] of [...this.partials]) {
      checked++;
      const listed = p.listedUnverified ?? [...p.present.keys()].filter((i) => p.present[i]);
      const good = await this.goodChunks(hash, p.list, listed);
      if (good.length !== listed.length) { this.drop(hash); removed++; }
    }
    return { checked, removed };
  }

  // ---- internals -----------------------------------------------------------------------

  private adopt(hash: string, list: ChunkList, listed: number[]): void {
    const p = newPartial(list, listed);
    for (const i of listed) this.markPresent(p, i); // counted now, re-hashed before first use
    this.partials.set(hash, p);
  }

  private markPresent(p: PartialBlob, i: number): void {
    if (p.present[i]) return;
    p.present[i] = 1;
    p.presentCount++;
    const len = chunkLength(p.list, i);
    p.presentBytes += len;
    this.bytes += len;
  }

  private touch(hash: string): void {
    const p = this.partials.get(hash);
    if (!p) return;
    this.partials.delete(hash);
    this.partials.set(hash, p);
  }

  /** Synchronous, so that no chunk run can start on a file being removed. */
  private drop(hash: string): void {
    const p = this.partials.get(hash);
    if (!p) return;
    this.partials.delete(hash);
    this.bytes -= p.presentBytes;
    rmSync(this.dataPath(hash), { force: true });
    rmSync(this.dataPath(hash) + SIDECAR_SUFFIX, { force: true });
  }

  /** The partial blob, created (sidecar header, sparse file) or re-verified as needed. */
  private async partialFor(hash: string, list: ChunkList): Promise<PartialBlob> {
    let p = this.partials.get(hash);
    if (!p) {
      // Synchronous (a small sidecar and an empty sparse file), so that two misses of one
      // blob cannot both create it: with awaits in between, the second one's O_TRUNC could
      // land after the first had written chunks, which then read back as zeros while
      // counted present (test/fuse/chunk-cache-race.test.ts).
      const path = this.dataPath(hash);
      mkdirSync(dirname(path), { recursive: true });
      // Sidecar first: a data file without one is a stray at the next start.
      writeFileSync(path + SIDECAR_SUFFIX, JSON.stringify({ size: list.size, chunkSize: list.chunkSize, hashes: list.hashes.join('') }) + '\n');
      const fd = openSync(path, 'w', 0o644);
      try { ftruncateSync(fd, list.size); } finally { closeSync(fd); }
      p = newPartial(list, undefined);
      this.partials.set(hash, p);
      return p;
    }
    if (p.listedUnverified) {
      const verifying = p.verifying ??= (async (partial: PartialBlob) => {
        const listed = partial.listedUnverified!;
        const good = new Set(await this.goodChunks(hash, partial.list, listed));
        for (const i of listed) {
          if (good.has(i)) continue;
          partial.present[i] = 0;
          partial.presentCount--;
          partial.presentBytes -= chunkLength(partial.list, i);
          this.bytes -= chunkLength(partial.list, i);
        }
        partial.listedUnverified = undefined;
        partial.verifying = undefined;
      })(p);
      await verifying;
    }
    return p;
  }

  /** The listed chunks whose bytes on disk match their hashes. */
  private async goodChunks(hash: string, list: ChunkList, listed: number[]): Promise<number[]> {
    const good: number[] = [];
    let fd: number;
    try { fd = openSync(this.dataPath(hash), 'r'); } catch { return good; }
    try {
      const buf = Buffer.alloc(list.chunkSize);
      for (const i of listed) {
        const len = chunkLength(list, i);
        const got = readSync(fd, buf, 0, len, i * list.chunkSize);
        if (got === len && sha256(buf.subarray(0, len)) === list.hashes[i]) good.push(i);
      }
    } finally {
      closeSync(fd);
    }
    return good;
  }

  /** One run of missing chunks, with fetchWithRetry's policy. Resolves to the bytes fetched. */
  private async fetchRun(host: ChunkCacheHost, fetcher: ChunkFetcher, policy: RetryPolicy, hash: string, list: ChunkList, p: PartialBlob, first: number, count: number): Promise<number> {
    p.busy++;
    const runBytes = Math.min(list.size, (first + count) * list.chunkSize) - first * list.chunkSize;
    const marker = `${this.dataPath(hash)}.run-${first}-${randomBytes(4).toString('hex')}`;
    let bytes = 0;
    const runFetcher: BlobFetcher = {
      fetch: async (_hash, _size, destPath, signal) => {
        // A retry fetches only what the last attempt did not deliver.
        let from = first;
        while (from < first + count && p.present[from]) from++;
        if (from < first + count) {
          const fh = await open(this.dataPath(hash), 'r+');
          const written: number[] = [];
          try {
            await fetcher.fetchChunks(hash, { size: list.size, chunkSize: list.chunkSize, first: from, hashes: list.hashes.slice(from, first + count), signal }, async (i, chunk) => {
              await fh.write(chunk, 0, chunk.length, i * list.chunkSize);
              written.push(i);
              bytes += chunk.length;
            });
          } finally {
            await fh.close();
            // Only after the write returned: a chunk counts (and is listed) once its bytes are in the file.
            if (this.partials.get(hash) === p) {
              for (const i of written) this.markPresent(p, i);
              if (written.length) await appendFile(this.dataPath(hash) + SIDECAR_SUFFIX, written.map((i) => `${i}\n`).join('')).catch(() => {});
            }
          }
        }
        const done = await open(destPath, 'w');
        await done.truncate(runBytes);
        await done.close();
      },
    };
    try {
      await fetchWithRetry(runFetcher, hash, runBytes, marker, policy);
      this.fetched.runs++;
      this.fetched.bytes += bytes;
      return bytes;
    } catch (err) {
      host.onFetchError(hash, err);
      throw err;
    } finally {
      p.busy--;
      // Counted whoever asked (readahead runs too): count 0 answers no chunk, only counts.
      if (bytes > 0) host.chunksReady(hash, first, 0, 0, bytes);
      await rm(marker, { force: true });
    }
  }

  /** Every chunk present and verified: hash the whole file; move it into the cache if it is the blob. */
  private async promote(host: ChunkCacheHost, hash: string, p: PartialBlob): Promise<void> {
    const path = this.dataPath(hash);
    try {
      const whole = await sha256File(path);
      if (this.partials.get(hash) !== p) return;
      if (whole !== hash) throw new Error(`blob ${hash}: every chunk matched its hash but the whole hashes to ${whole}`);
      const dest = host.wholePath(hash);
      await mkdir(dirname(dest), { recursive: true });
      await rename(path, dest);
      this.partials.delete(hash);
      this.bytes -= p.presentBytes;
      await rm(path + SIDECAR_SUFFIX, { force: true });
      host.addWhole(hash, p.list.size);
    } catch (err) {
      host.onFetchError(hash, err);
      this.drop(hash);
    } finally {
      p.promoting = undefined;
    }
  }
}

function chunkLength(list: ChunkList, i: number): number {
  return Math.min(list.chunkSize, list.size - i * list.chunkSize);
}

function sameList(a: ChunkList, b: ChunkList): boolean {
  return a.size === b.size && a.chunkSize === b.chunkSize && a.hashes.length === b.hashes.length && a.hashes.every((h, i) => h === b.hashes[i]);
}

async function readSidecar(path: string): Promise<{ list: ChunkList; listed: number[] }> {
  const [header, ...lines] = (await readFile(path, 'utf8')).split('\n');
  const h = JSON.parse(header!) as { size: number; chunkSize: number; hashes: string };
  const n = Math.ceil(h.size / h.chunkSize);
  if (!Number.isSafeInteger(h.size) || !Number.isSafeInteger(h.chunkSize) || h.chunkSize <= 0 || typeof h.hashes !== 'string' || h.hashes.length !== n * 64) throw new Error('bad sidecar');
  const hashes: string[] = [];
  for (let i = 0; i < n; i++) hashes.push(h.hashes.slice(i * 64, (i + 1) * 64));
  // The text after the last newline is '' or a torn line (a crash mid-append): ignored.
  const listed = [...new Set(lines.slice(0, -1).filter((l) => /^\d+$/.test(l)).map(Number).filter((i) => i < n))];
  return { list: { size: h.size, chunkSize: h.chunkSize, hashes }, listed };
}
