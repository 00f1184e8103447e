// Typed client of the fileserver's wire protocol (docs/ARCHITECTURE.md), used by
// `sway export`, the worker and the tests. Every byte that comes back is verified
// against its hash before a caller sees it: manifests, batch-fetched blobs, and blobs
// streamed to disk (which become visible only by rename after the hash matched).
// Uploads stream from their sources; nothing here holds a whole batch in memory.
// Deliberately does not: retry (callers decide their own policy) or cache.
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { createGunzip, gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { ServiceClient, type ServiceClientOptions } from './http-client.js';
import { HashMismatchError, SwayError, BadRequestError } from './errors.js';
import { sha256, isHash } from './hash.js';
import { encodeFrameHeader, FrameParser, HEADERS, CONTENT_TYPES, type FrameHeader } from './protocol.js';
import { requireSetting, type ClientConfig } from './config.js';
import type { ManifestEntry } from './manifest.js';
import { isChunkRunsList, type ChunkRuns } from './start-profile.js';

const COALESCE_BYTES = 64 * 1024;
/** A batch blob is held in memory whole until verified: refuse absurd sizes. */
const MAX_BATCH_BLOB_BYTES = 1024 * 1024 * 1024;

export type FileserverClientOptions = Omit<ServiceClientOptions, 'what'>;

export interface UploadFile {
  /** The caller's name for the file (a path); echoed in errors. */
  key: string;
  hash: string;
  size: number;
  /** Opened lazily, once, when its frame is sent (a promise lets the caller read ahead). */
  open(): NodeJS.ReadableStream | Buffer | Promise<NodeJS.ReadableStream | Buffer>;
}

export interface SyncItem { key: string; hash: string }

export class SizeMismatchError extends SwayError {
  constructor(what: string, expected: number, actual: string) {
    super('SWAY_SIZE_MISMATCH', `${what}: expected ${expected} bytes, got ${actual}`, 502);
    this.name = 'SizeMismatchError';
  }
}

/** Path segments of a name or id, percent-encoded one by one. */
function refPath(ref: string): string {
  return ref.split('/').map(encodeURIComponent).join('/');
}

export class FileserverClient {
  readonly http: ServiceClient;

  constructor(opts: FileserverClientOptions) {
    this.http = new ServiceClient({ ...opts, what: 'fileserver' });
  }

  /** From flags/env/config file (SWAY_FILESERVER, SWAY_TOKEN, SWAY_CA). */
  static fromConfig(config: ClientConfig, extra: Partial<FileserverClientOptions> = {}): FileserverClient {
    return new FileserverClient({ url: requireSetting(config, 'fileserver'), token: config.token, caFile: config.ca, ...extra });
  }

  get url(): string { return this.http.url; }

  whoami(): Promise<{ user: string; role: string }> {
    return this.http.json('/v1/whoami');
  }

  /** Upload one blob; the server verifies the hash (400 on mismatch). */
  async putBlob(hash: string, body: Buffer | NodeJS.ReadableStream, size: number): Promise<void> {
    const res = await this.http.request(`/v1/blobs/${hash}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: body as Dispatcher.DispatchOptions['body'],
    });
    await res.body.dump();
  }

  async hasBlob(hash: string): Promise<boolean> {
    const res = await this.http.request(`/v1/blobs/${hash}`, { method: 'HEAD', okStatuses: [404] });
    await res.body.dump();
    return res.statusCode === 200;
  }

  /** The keys whose content this user must upload (one key per missing hash). */
  async sync(items: SyncItem[]): Promise<string[]> {
    const out = await this.http.json<{ upload: string[] }>('/sync', { method: 'POST', json: items });
    return out.upload;
  }

  /**
   * Upload up to 3000 files as one stream of frames. The server stores all of them or
   * none (it answers only after every blob is durable).
   */
  async batchUpload(files: UploadFile[]): Promise<{ stored: number; bytes: number }> {
    const headers = files.map((f) => encodeFrameHeader({ key: f.key, hash: f.hash, size: f.size }));
    const length = files.reduce((n, f, i) => n + headers[i]!.length + f.size, 0);
    // A failure of our own sources (a file that changed size, an unreadable stream) must
    // surface as itself, not as the "unreachable" the aborted request would report.
    let sourceError: unknown;
    async function* frames(): AsyncGenerator<Buffer> {
      const source = framesOf();
      try {
        for (;;) {
          let step: IteratorResult<Buffer>;
          try { step = await source.next(); } catch (err) { sourceError = err; throw err; }
          if (step.done) return;
          // An error thrown in at this yield is the request's (the connection was reset and
          // undici destroyed the body), not our sources': it must stay "unreachable".
          yield step.value;
        }
      } finally {
        await source.return(undefined); // close the file being read, if any
      }
    }
    async function* framesOf(): AsyncGenerator<Buffer> {
      // Coalesce headers and small contents into ~64 KB writes: thousands of tiny writes
      // would each cost a TLS record and a syscall on both ends.
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const take = () => { const b = Buffer.concat(pending, pendingBytes); pending = []; pendingBytes = 0; return b; };
      for (let i = 0; i < files.length; i++) {
        const f = files[i]!;
        pending.push(headers[i]!); pendingBytes += headers[i]!.length;
        const opened = f.open();
        const src = opened instanceof Promise ? await opened : opened;
        let sent = 0;
        if (Buffer.isBuffer(src)) {
          sent = src.length;
          if (src.length >= COALESCE_BYTES) { yield take(); yield src; }
          else { pending.push(src); pendingBytes += src.length; }
        } else {
          if (pendingBytes) yield take();
          for await (const chunk of src as AsyncIterable<Buffer | string>) {
            const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
            sent += b.length;
            if (sent > f.size) break;
            yield b;
          }
        }
        if (sent !== f.size) throw new SizeMismatchError(`upload of ${f.key}`, f.size, `${sent}${sent > f.size ? '+' : ''} bytes`);
        if (pendingBytes >= COALESCE_BYTES) yield take();
      }
      if (pendingBytes) yield take();
    }
    try {
      return await this.http.json('/batch-upload', {
        method: 'PUT',
        headers: { 'content-type': CONTENT_TYPES.frames, 'content-length': String(length) },
        body: Readable.from(frames(), { objectMode: false }),
      });
    } catch (err) {
      throw sourceError ?? err;
    }
  }

  /** Point `user/name:tag` at an image id (the manifest blob's hash). */
  setImage(name: string, id: string): Promise<{ name: string; id: string }> {
    return this.http.json(`/v1/images/${refPath(name)}`, { method: 'PUT', json: { id } });
  }

  /** A name (or an id) → the image id and, when known, its full name. */
  resolveImage(ref: string): Promise<{ id: string; name: string | null }> {
    return this.http.json(`/v1/images/${refPath(ref)}`);
  }

  /** The manifest blob of an image, verified: sha256(blob) is the id. */
  async getManifest(ref: string, opts: { signal?: AbortSignal } = {}): Promise<{ id: string; blob: Buffer }> {
    const res = await this.http.request(`/v1/manifests/${refPath(ref)}`, { signal: opts.signal });
    const blob = Buffer.from(await res.body.arrayBuffer());
    const claimed = String(res.headers[HEADERS.imageId] ?? '');
    const actual = sha256(blob);
    const expected = isHash(ref) ? ref : claimed;
    if (!isHash(expected) || actual !== expected) throw new HashMismatchError(expected || '(none)', actual, 'manifest');
    return { id: actual, blob };
  }

  /**
   * Stream a blob into `destPath`: a temp file beside it, hashed while written, renamed
   * into place only when the hash (and expectedSize) match. On any failure the temp file
   * is removed and nothing appears at destPath. Not fsynced unless `fsync` is set: the
   * worker's disk cache makes its blobs durable in bulk (one syncfs per checkpoint, and
   * re-hashes blobs newer than the last checkpoint after a crash), which saves ~3 ms per fetch.
   * With acceptGzip the server may send its gzip copy (fewer bytes on the link); the
   * decompressed bytes are what is hashed, bounded by expectedSize, and a copy that does
   * not decode to the blob is followed by one plain request before giving up.
   */
  async fetchBlobToFile(hash: string, destPath: string, opts: { signal?: AbortSignal; expectedSize?: number; fsync?: boolean; acceptGzip?: boolean } = {}): Promise<{ size: number }> {
    if (!isHash(hash)) throw new BadRequestError(`not a sha256 hash: ${JSON.stringify(hash)}`);
    await mkdir(dirname(destPath), { recursive: true });
    if (!opts.acceptGzip) return this.fetchBlobToFileOnce(hash, destPath, opts, false);
    try {
      return await this.fetchBlobToFileOnce(hash, destPath, opts, true);
    } catch (err) {
      if (!(err instanceof BadGzipCopyError)) throw err;
      return this.fetchBlobToFileOnce(hash, destPath, opts, false);
    }
  }

  private async fetchBlobToFileOnce(hash: string, destPath: string, opts: { signal?: AbortSignal; expectedSize?: number; fsync?: boolean }, acceptGzip: boolean): Promise<{ size: number }> {
    const tmp = `${destPath}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    const res = await this.http.request(`/v1/blobs/${hash}`, { signal: opts.signal, headers: acceptGzip ? { 'accept-encoding': 'gzip' } : {} });
    const encoding = String(res.headers['content-encoding'] ?? 'identity');
    const gzipped = encoding === 'gzip';
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    try {
      if (!gzipped && encoding !== 'identity') throw new SwayError('SWAY_BAD_ENCODING', `fileserver sent blob ${hash} with content-encoding ${encoding}`, 502);
      fh = await open(tmp, 'wx', 0o644);
      const h = createHash('sha256');
      let size = 0;
      for await (const chunk of (gzipped ? gunzipStream(res.body) : res.body) as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (opts.expectedSize !== undefined && size > opts.expectedSize) {
          throw new SizeMismatchError(`blob ${hash}`, opts.expectedSize, `more than ${opts.expectedSize} bytes`);
        }
        h.update(chunk);
        await fh.write(chunk);
      }
      if (opts.expectedSize !== undefined && size !== opts.expectedSize) throw new SizeMismatchError(`blob ${hash}`, opts.expectedSize, `${size} bytes`);
      const actual = h.digest('hex');
      if (actual !== hash) throw new HashMismatchError(hash, actual, 'blob');
      if (opts.fsync) await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, destPath);
      return { size };
    } catch (err) {
      res.body.destroy();
      await fh?.close().catch(() => {});
      await rm(tmp, { force: true });
      // The copy, not the blob, may be what is wrong: the caller asks once more, plain.
      if (gzipped && isDecodedFailure(err)) throw new BadGzipCopyError(hash, err);
      throw err;
    }
  }

  /**
   * Consecutive chunks of a blob in one Range request (chunk hashes from the manifest,
   * ts/common/manifest.ts). Each chunk is verified against its hash before onChunk sees
   * it; at the first chunk that does not match (or a short or long body) it throws, so
   * onChunk has seen exactly the verified chunks before it.
   */
  async fetchBlobChunks(hash: string, o: { size: number; chunkSize: number; first: number; hashes: string[]; signal?: AbortSignal },
    onChunk: (index: number, bytes: Buffer) => void | Promise<void>): Promise<void> {
    if (!isHash(hash)) throw new BadRequestError(`not a sha256 hash: ${JSON.stringify(hash)}`);
    const start = o.first * o.chunkSize;
    const end = Math.min(o.size, (o.first + o.hashes.length) * o.chunkSize) - 1;
    if (o.hashes.length === 0 || start > end) throw new BadRequestError(`no chunks ${o.first}+${o.hashes.length} in a blob of ${o.size} bytes`);
    const res = await this.http.request(`/v1/blobs/${hash}`, { signal: o.signal, headers: { range: `bytes=${start}-${end}` } });
    try {
      if (res.statusCode !== 206 && !(res.statusCode === 200 && start === 0 && end === o.size - 1)) {
        throw new SizeMismatchError(`blob ${hash} range ${start}-${end}`, end - start + 1, `status ${res.statusCode}`);
      }
      let index = o.first;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const chunkLength = (i: number) => Math.min(o.chunkSize, o.size - i * o.chunkSize);
      for await (const part of res.body as AsyncIterable<Buffer>) {
        let at = 0;
        while (at < part.length) {
          if (index >= o.first + o.hashes.length) throw new SizeMismatchError(`blob ${hash} range ${start}-${end}`, end - start + 1, 'more bytes');
          const take = Math.min(chunkLength(index) - pendingBytes, part.length - at);
          pending.push(part.subarray(at, at + take));
          pendingBytes += take;
          at += take;
          if (pendingBytes === chunkLength(index)) {
            const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
            const actual = sha256(bytes);
            const expected = o.hashes[index - o.first]!;
            if (actual !== expected) throw new HashMismatchError(expected, actual, `blob ${hash} chunk ${index}`);
            await onChunk(index, bytes);
            index++;
            pending = [];
            pendingBytes = 0;
          }
        }
      }
      if (index !== o.first + o.hashes.length) throw new SizeMismatchError(`blob ${hash} range ${start}-${end}`, end - start + 1, 'fewer bytes');
    } catch (err) {
      res.body.destroy();
      throw err;
    }
  }

  /**
   * Many blobs in one response (for prefetching). Each blob is verified, then handed to
   * onBlob whole; returns the hashes the server did not have (or would not give).
   */
  async fetchBatch(hashes: string[], onBlob: (hash: string, content: Buffer) => void | Promise<void>, opts: { signal?: AbortSignal; onCorrupt?: (hash: string, err: HashMismatchError) => void; acceptGzip?: boolean } = {}): Promise<{ missing: string[] }> {
    const res = await this.http.request('/v1/blobs/fetch-batch', {
      method: 'POST', signal: opts.signal,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(opts.acceptGzip ? { hashes, encodings: ['gzip'] } : { hashes }),
    });
    const missing: string[] = [];
    // Gzip frames are decompressed (off the main thread) and verified as they are handed on.
    const ready: { hash: string; content: Buffer; decodedSize?: number }[] = [];
    const corrupt = (err: HashMismatchError) => {
      // With onCorrupt the bad blob is dropped and the rest of the batch still used.
      if (!opts.onCorrupt) throw err;
      opts.onCorrupt(err.expected, err);
    };
    let current: FrameHeader | undefined;
    // One copy per blob, into a buffer of its announced size (a chunk is only a view of the
    // response's buffers); a plain blob is hashed as it comes, a gzip copy once decoded.
    let content = Buffer.alloc(0);
    let filled = 0;
    let hasher: Hash | undefined;
    const parser = new FrameParser({
      header: (h) => {
        current = h;
        if (!h.missing && h.size > MAX_BATCH_BLOB_BYTES) throw new SwayError('SWAY_TOO_LARGE', `fileserver sent a ${h.size}-byte blob in a batch (at most ${MAX_BATCH_BLOB_BYTES})`, 502);
        if (h.encoding !== undefined && (h.encoding !== 'gzip' || !opts.acceptGzip || !Number.isSafeInteger(h.decodedSize) || (h.decodedSize as number) < 0)) {
          throw new SwayError('SWAY_BAD_ENCODING', `fileserver sent blob ${h.hash} in a batch with encoding ${JSON.stringify(h.encoding)}`, 502);
        }
        content = Buffer.allocUnsafe(h.missing ? 0 : h.size); filled = 0; hasher = h.encoding ? undefined : createHash('sha256');
      },
      content: (c) => { c.copy(content, filled); filled += c.length; hasher?.update(c); },
      end: () => {
        const h = current!;
        if (h.missing) { missing.push(h.hash); return; }
        if (h.encoding === 'gzip') { ready.push({ hash: h.hash, content, decodedSize: h.decodedSize as number }); return; }
        const actual = hasher!.digest('hex');
        if (actual !== h.hash) { corrupt(new HashMismatchError(h.hash, actual, 'blob')); return; }
        ready.push({ hash: h.hash, content });
      },
    });
    const hand = async (b: { hash: string; content: Buffer; decodedSize?: number }) => {
      if (b.decodedSize === undefined) { await onBlob(b.hash, b.content); return; }
      let plain: Buffer;
      try {
        const limit = Math.max(1, Math.min(b.decodedSize, MAX_BATCH_BLOB_BYTES));
        // Output chunks as large as the blob: with zlib's default 16 KiB chunks, each is a
        // thread-pool round trip and a main-thread callback (measured on 646 MB of
        // libraries: 1.8 ms of main thread per MB, against 0.26 ms).
        plain = await gunzipAsync(b.content, { maxOutputLength: limit, chunkSize: Math.min(GUNZIP_MAX_CHUNK, Math.max(64 * 1024, limit + 1)) });
      } catch (err) {
        corrupt(new HashMismatchError(b.hash, `a gzip copy that does not decode (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'blob'));
        return;
      }
      const actual = plain.length === b.decodedSize ? sha256(plain) : `${plain.length} bytes instead of ${b.decodedSize}`;
      if (actual !== b.hash) { corrupt(new HashMismatchError(b.hash, actual, 'blob')); return; }
      await onBlob(b.hash, plain);
    };
    // Blobs are handed on while the response keeps streaming: a few at once go through
    // gunzip and onBlob (the disk), so the socket is not left unread meanwhile (the server's
    // sending stalls on a full TCP window otherwise). onBlob may see blobs out of order.
    const handing = new Set<Promise<void>>();
    let handingBytes = 0;
    let failure: { err: unknown } | undefined;
    const startHand = (b: { hash: string; content: Buffer; decodedSize?: number }) => {
      handingBytes += b.content.length;
      const p: Promise<void> = hand(b).catch((err: unknown) => { failure ??= { err }; }).finally(() => {
        handing.delete(p);
        handingBytes -= b.content.length;
      });
      handing.add(p);
    };
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        parser.push(chunk);
        while (ready.length) {
          while (handing.size >= HAND_AHEAD_BLOBS || (handing.size && handingBytes >= HAND_AHEAD_BYTES)) await Promise.race(handing);
          if (failure) throw failure.err;
          startHand(ready.shift()!);
        }
      }
      await Promise.all(handing);
      if (failure) throw failure.err;
    } catch (err) {
      res.body.destroy();
      await Promise.allSettled(handing); // no onBlob runs after fetchBatch has returned
      throw err;
    }
    if (!parser.complete) throw new SwayError('SWAY_TRUNCATED', 'fileserver batch response ended in the middle of a blob', 502);
    return { missing };
  }

  /** This token's user's start profile of an image (blob hashes, first access first); undefined when none. */
  async getProfile(imageId: string, opts: { signal?: AbortSignal } = {}): Promise<string[] | undefined> {
    return (await this.getStartProfile(imageId, opts))?.blobs.map((b) => b.hash);
  }

  /**
   * This token's user's start profile of an image: its blobs (only ones the user may read)
   * with their sizes (0: deleted meanwhile), first access first, and the chunk runs read of
   * files fetched by chunk; undefined when there is none. A worker token has none (403).
   */
  async getStartProfile(imageId: string, opts: { signal?: AbortSignal } = {}): Promise<{ blobs: { hash: string; size: number }[]; chunks: ChunkRuns[] } | undefined> {
    const res = await this.http.request(`/v1/profiles/${encodeURIComponent(imageId)}`, { signal: opts.signal, okStatuses: [404] });
    if (res.statusCode === 404) { await res.body.dump(); return undefined; }
    const { hashes, sizes, chunks } = (await res.body.json()) as { hashes?: unknown; sizes?: unknown; chunks?: unknown };
    if (!Array.isArray(hashes) || !hashes.every(isHash) || !Array.isArray(sizes) || sizes.length !== hashes.length
      || !sizes.every((n) => Number.isSafeInteger(n) && n >= 0) || !isChunkRunsList(chunks)) {
      throw new SwayError('SWAY_BAD_PROFILE', `fileserver sent a malformed profile for image ${imageId}`, 502);
    }
    return { blobs: (hashes as string[]).map((hash, i) => ({ hash, size: sizes[i] as number })), chunks };
  }

  /** Merge blobs and chunk runs into this user's start profile of an image (the server checks each against the image and the user's blobs); returns the stored hashes. */
  async putProfile(imageId: string, hashes: string[], chunks: ChunkRuns[] = []): Promise<string[]> {
    const out = await this.http.json<{ hashes: string[] }>(`/v1/profiles/${encodeURIComponent(imageId)}`, { method: 'PUT', json: { hashes, chunks } });
    return out.hashes;
  }

  /** Store a script (any bytes) as this user's; returns its hash. */
  async uploadScript(content: Buffer): Promise<string> {
    const out = await this.http.json<{ hash: string }>('/v1/scripts', {
      method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: content,
    });
    return out.hash;
  }

  async hasScript(hash: string): Promise<boolean> {
    const res = await this.http.request(`/v1/scripts/${hash}`, { method: 'HEAD', okStatuses: [404] });
    await res.body.dump();
    return res.statusCode === 200;
  }

  /** A script's bytes, verified against its hash. */
  async getScript(hash: string): Promise<Buffer> {
    const res = await this.http.request(`/v1/scripts/${hash}`);
    const content = Buffer.from(await res.body.arrayBuffer());
    const actual = sha256(content);
    if (actual !== hash) throw new HashMismatchError(hash, actual, 'script');
    return content;
  }

  /** Legacy GET /fetch: a file's content and metadata, verified. */
  async fetchFile(filepath: string): Promise<{ meta: ManifestEntry; content: Buffer }> {
    const res = await this.http.request(`/fetch?filepath=${encodeURIComponent(filepath)}`);
    const meta = JSON.parse(String(res.headers[HEADERS.meta] ?? 'null')) as ManifestEntry;
    const content = Buffer.from(await res.body.arrayBuffer());
    if (meta?.hash && (meta.type === 'file' || meta.type === 'hardlink')) {
      const actual = sha256(content);
      if (actual !== meta.hash) throw new HashMismatchError(meta.hash, actual, filepath);
    }
    return { meta, content };
  }

  /** Legacy GET /fetch with a trailing '/': the directory's entries (metadata only). */
  async listDirectory(dirpath: string): Promise<ManifestEntry[]> {
    const p = dirpath.endsWith('/') ? dirpath : `${dirpath}/`;
    const out = await this.http.json<{ entries: ManifestEntry[] }>(`/fetch?filepath=${encodeURIComponent(p)}`);
    return out.entries;
  }

  /** Admin: delete blobs no image or script needs and nobody relied on within the grace period. */
  gc(opts: { graceSeconds?: number; dryRun?: boolean } = {}): Promise<{ scanned: number; referenced: number; deleted: number; bytesFreed: number; dryRun: boolean }> {
    return this.http.json('/v1/admin/gc', { method: 'POST', json: opts });
  }

  private closing?: Promise<void>;
  /** Close the connection pool; safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= this.http.close();
    return this.closing;
  }
}

const gunzipAsync = promisify(gunzip);
/** Largest zlib output chunk when decoding a gzip copy (bounds one allocation). */
const GUNZIP_MAX_CHUNK = 16 * 1024 * 1024;
/** Blobs of a batch decoded and handed to onBlob at once, and their compressed bytes. */
const HAND_AHEAD_BLOBS = 4;
const HAND_AHEAD_BYTES = 16 * 1024 * 1024;

/** The decompressed bytes of a gzip response body (errors of either side end the stream). */
function gunzipStream(body: Readable): Readable {
  const out = createGunzip();
  pipeline(body, out, () => { /* an error reaches the reader of `out` */ });
  return out;
}

/** What a bad gzip copy causes: bytes that do not decode, or decode to the wrong blob. */
function isDecodedFailure(err: unknown): boolean {
  return err instanceof HashMismatchError || err instanceof SizeMismatchError || /^Z_|^ERR_ZLIB|^ERR_BUFFER_TOO_LARGE/.test(String((err as NodeJS.ErrnoException)?.code ?? ''));
}

/** A gzip copy that did not decode to its blob (the plain blob may still be fine). */
class BadGzipCopyError extends SwayError {
  constructor(hash: string, cause: unknown) {
    super('SWAY_BAD_GZIP_COPY', `the fileserver's gzip copy of blob ${hash} is bad: ${(cause as Error)?.message ?? String(cause)}`, 502, { cause });
    this.name = 'BadGzipCopyError';
  }
}
