// Read one layer blob (a tar, plain or gzip-compressed) in a single streaming pass:
// the blob's digest (compressed bytes) and diff_id (uncompressed bytes) are hashed as
// the bytes flow, every entry becomes a LayerChange (whiteouts recognised here), and
// every file's content is hashed (and, with a ContentStore as sink, staged) on the way through.
// Memory holds the list of changes, never a file or a layer. The uncompressed bytes
// and the entries count against the archive's ArchiveBudget (archive-limits.ts): a gzip
// bomb stops with an ArchiveLimitError once it has inflated past the limit.
//
// Deliberately does not: decide which blobs are layers or verify digests against the
// image config (ts/image/archive.ts does both), or apply the changes (ts/image/layers.ts).
import { createGunzip } from 'node:zlib';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { ImageFormatError } from '../common/errors.js';
import { EMPTY_HASH, HashingStream } from '../common/hash.js';
import { readTarEntries, asFormatError, type TarEntry } from './tar-entries.js';
import { ArchiveBudget } from './archive-limits.js';
import type { LayerChange } from './layers.js';
import type { ContentSink } from './content-store.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export interface LayerData {
  /** sha256 of the blob as stored (compressed if it is). */
  digest: string;
  /** sha256 of the uncompressed tar: what the image config's rootfs.diff_ids lists. */
  diffId: string;
  compression: 'none' | 'gzip';
  changes: LayerChange[];
  /** Uncompressed bytes read. */
  bytes: number;
  /** Bytes of file contents in this layer. */
  contentBytes: number;
  files: number;
}

/** The first bytes decide: gzip (1f 8b), zstd (refused: Node 20's zlib has none), else tar. */
async function sniff(source: Readable): Promise<{ kind: 'none' | 'gzip'; stream: Readable }> {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  source.on('error', (err) => out.destroy(err));
  const first: Buffer = await new Promise((resolve, reject) => {
    const onData = (c: Buffer) => { cleanup(); source.pause(); resolve(c); };
    const onEnd = () => { cleanup(); resolve(Buffer.alloc(0)); };
    const onError = (e: Error) => { cleanup(); reject(e); };
    const cleanup = () => { source.off('data', onData); source.off('end', onEnd); source.off('error', onError); };
    source.on('data', onData); source.once('end', onEnd); source.once('error', onError);
  });
  if (first.length >= 4 && first.readUInt32BE(0) === 0x28b52ffd) {
    source.resume();
    throw new ImageFormatError('zstd-compressed layers are not supported (re-save the image with gzip or no compression)');
  }
  out.write(first);
  source.pipe(out);
  source.resume();
  return { kind: first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b ? 'gzip' : 'none', stream: out };
}

/** Classify a cleaned tar path as whiteout / opaque marker, or null for an ordinary entry. */
export function whiteoutChange(path: string): LayerChange | null {
  const i = path.lastIndexOf('/');
  const base = i < 0 ? path : path.slice(i + 1);
  if (!base.startsWith(WHITEOUT_PREFIX)) return null;
  const parent = i < 0 ? '' : path.slice(0, i);
  if (base === OPAQUE_MARKER) return { op: 'opaque', path: parent };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') throw new ImageFormatError(`archive has a whiteout ${JSON.stringify(path)} that names no entry`);
  if (name.startsWith(WHITEOUT_PREFIX)) return { op: 'skip', path, reason: 'unknown whiteout metadata entry' };
  return { op: 'whiteout', path: parent === '' ? name : `${parent}/${name}` };
}

/** The change one entry that is not a whiteout makes; a file's needs its content hash. */
export function entryChange(entry: TarEntry, fileHash?: string): LayerChange {
  const meta = { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime, ...(entry.xattrs ? { xattrs: entry.xattrs } : {}) };
  switch (entry.type) {
    case 'dir': return { op: 'dir', path: entry.path, ...meta };
    case 'symlink': return { op: 'symlink', path: entry.path, target: entry.linkname!, ...meta };
    case 'hardlink': return { op: 'hardlink', path: entry.path, target: entry.linkname! };
    case 'device': case 'fifo': return { op: 'skip', path: entry.path, reason: `${entry.type === 'fifo' ? 'fifo' : 'device node'} not supported` };
    case 'file': return { op: 'file', path: entry.path, size: entry.size, hash: fileHash!, ...meta };
  }
}

/** Counts the uncompressed bytes of one layer against the budget; fails the stream past a limit. */
class BudgetStream extends Transform {
  private layerBytes = 0;
  constructor(private readonly budget: ArchiveBudget, private readonly what: string) { super(); }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.layerBytes += chunk.length;
    try { this.budget.addBytes(chunk.length, this.layerBytes, this.what); } catch (err) { cb(err as Error); return; }
    cb(null, chunk);
  }
}

export async function readLayer(source: Readable, sink: ContentSink, what = 'layer', budget: ArchiveBudget = new ArchiveBudget()): Promise<LayerData> {
  try {
    return await readLayerUnchecked(source, sink, what, budget);
  } catch (err) {
    throw asFormatError(err, what);
  }
}

async function readLayerUnchecked(source: Readable, sink: ContentSink, what: string, budget: ArchiveBudget): Promise<LayerData> {
  // tar-stream's entry bodies are streamx streams: one whose whole body arrived with its
  // header (a small member in the same chunk) never emitted 'data' or 'end' to the
  // listeners sniff() attaches later, and the export ended with exit 0 and nothing done.
  // Async iteration is the interface both stream kinds honour.
  const nodeSource = source instanceof Readable ? source : Readable.from(source as AsyncIterable<Buffer>, { objectMode: false });
  const { kind, stream } = await sniff(nodeSource);
  const diffHash = new HashingStream();
  const counted = new BudgetStream(budget, what);
  counted.on('error', (err) => diffHash.destroy(err));
  // An uncompressed blob's digest is its diff_id: hash the bytes once, not twice.
  let compressedHash: HashingStream | undefined;
  if (kind === 'gzip') {
    compressedHash = new HashingStream();
    const gunzip = createGunzip();
    stream.on('error', (err) => compressedHash!.destroy(err));
    compressedHash.on('error', (err) => gunzip.destroy(err));
    gunzip.on('error', (err) => counted.destroy(err));
    stream.pipe(compressedHash).pipe(gunzip).pipe(counted).pipe(diffHash);
  } else {
    stream.on('error', (err) => counted.destroy(err));
    stream.pipe(counted).pipe(diffHash);
  }
  const changes: LayerChange[] = [];
  let contentBytes = 0;
  let files = 0;
  for await (const { entry, body } of readTarEntries(diffHash, what, budget)) {
    const wh = whiteoutChange(entry.path);
    if (wh) { changes.push(wh); continue; }
    if (entry.type === 'file') {
      const hash = entry.size === 0 ? EMPTY_HASH : await sink.stage(body, entry.size, entry.path);
      changes.push(entryChange(entry, hash));
      contentBytes += entry.size;
      files++;
    } else {
      changes.push(entryChange(entry));
    }
  }
  // Read to the end: trailing padding after the tar's end blocks is part of the digest.
  if (!diffHash.readableEnded) { diffHash.resume(); await new Promise<void>((resolve, reject) => { diffHash.once('end', resolve); diffHash.once('error', reject); }); }
  return { digest: compressedHash ? compressedHash.digest() : diffHash.digest(), diffId: diffHash.digest(), compression: kind, changes, bytes: diffHash.bytes, contentBytes, files };
}
