// The image manifest: the whole metadata of an image in one blob.
//
// A worker fetches it once and keeps it in memory, so every lookup, stat, readdir and
// "no such file" is answered without the network. It must stay compact (about 2 MB on
// the wire for a 30,000-file image), hence the encoding: entries are positional tuples
// in one JSON document, gzip-compressed, and the stored blob *is* the gzip bytes. The
// image id is the SHA-256 of that blob, so a worker verifies the manifest like any blob.
//
// Entry paths are relative to the image root, '/'-separated, without a leading slash;
// the root directory itself is the entry with path ''. Entries are sorted by path and
// every entry's parent directory is present.
//
// Chunk hashes (optional, top-level "chunks"): for files larger than CHUNKED_FILE_MIN,
// the SHA-256 of each fixed-size chunk, so a worker can fetch and verify parts of a big
// file. Keyed by the content hash (one list per distinct content); the content hash stays
// the blob's name. A decoder that predates them ignores the field; a manifest without
// them is served whole-file.
import { gzipSync, gunzipSync } from 'node:zlib';
import { sha256, isHash, EMPTY_HASH } from './hash.js';
import { ImageFormatError } from './errors.js';

export const MANIFEST_VERSION = 1;

export type EntryType = 'dir' | 'file' | 'symlink' | 'hardlink';

export interface ManifestEntry {
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (mask 0o7777); no file-type bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  /** Size in bytes for files and hard links; 0 for directories; target length for symlinks. */
  size: number;
  /** Content hash for files and hard links (a hard link shares its target's content). */
  hash?: string;
  /** Symlink target, verbatim; or, for a hard link, the path of the file entry it links to. */
  target?: string;
  /** Extended attributes: name -> value as base64 (e.g. security.capability). */
  xattrs?: Record<string, string>;
}

/** The parts of the OCI image config a runtime needs. */
export interface ImageConfig {
  env: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
  workingDir: string;
  user: string;
}

export interface Manifest {
  version: typeof MANIFEST_VERSION;
  config: ImageConfig;
  entries: ManifestEntry[];
  /** Per-chunk SHA-256 of big files' contents (see the header). */
  chunks?: ChunkHashes;
}

export interface ChunkHashes {
  /** Bytes per chunk (a power of two); the last chunk of a file may be shorter. */
  chunkSize: number;
  /** content hash -> one hex SHA-256 per chunk, in order. */
  byBlob: Record<string, string[]>;
}

/**
 * Files above this size get chunk hashes from the exporters. 1 MiB and 256 KiB chunks:
 * in the python/scipy image, files over 4 MiB hold only 324 MB of 839, and the shared
 * libraries a start touches are mostly 1-4 MiB; this costs ~60 KB of manifest.
 */
export const CHUNKED_FILE_MIN = 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
const MIN_CHUNK_SIZE = 64 * 1024;
const MAX_CHUNK_SIZE = 64 * 1024 * 1024;

// Bounds of what a decoded manifest may hold: a manifest is untrusted input (any user can
// publish one), and the native tree trusts what decoding let through (native/src/chunk_map.h
// sizes a chunk map from a file's size). Linux's own limits where it has one.
/** Entries of one image (the python/scipy image has 34,000). */
export const MAX_MANIFEST_ENTRIES = 4_000_000;
/** Bytes of one file (1 TiB): at 64 KiB chunks, 2^24 chunks the native code can index. */
export const MAX_FILE_SIZE = 2 ** 40;
/** Bytes of one path component (NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/** Bytes of an entry path (PATH_MAX, as the archive reader's default limit). */
export const MAX_PATH_BYTES = 4096;
/** Bytes of a symlink target (PATH_MAX less its NUL). */
export const MAX_LINK_TARGET_BYTES = 4095;
/** Extended attributes of one entry, the bytes of one name (XATTR_NAME_MAX) and of one value (XATTR_SIZE_MAX). */
export const MAX_XATTRS = 1024;
export const MAX_XATTR_NAME_BYTES = 255;
export const MAX_XATTR_VALUE_BYTES = 64 * 1024;
/** Bytes of one entry's xattr name list, NULs included (XATTR_LIST_MAX). */
const MAX_XATTR_LIST_BYTES = 64 * 1024;

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

const TYPE_TO_CHAR: Record<EntryType, string> = { dir: 'd', file: 'f', symlink: 'l', hardlink: 'h' };
const CHAR_TO_TYPE: Record<string, EntryType> = { d: 'dir', f: 'file', l: 'symlink', h: 'hardlink' };

type EntryTuple = [string, string, number, number, number, number, number, string | null, string | null, Record<string, string> | null];

export function emptyImageConfig(): ImageConfig {
  return { env: [], entrypoint: null, cmd: null, workingDir: '/', user: '' };
}

export function compareManifestPaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Encode to the stored blob (gzip of canonical JSON). Sorts entries; deterministic. */
export function encodeManifest(manifest: Manifest): Buffer {
  const entries = [...manifest.entries].sort((a, b) => compareManifestPaths(a.path, b.path));
  const tuples: EntryTuple[] = entries.map((e) => [
    e.path, TYPE_TO_CHAR[e.type], e.mode, e.uid, e.gid, e.mtime, e.size,
    e.hash ?? null, e.target ?? null, e.xattrs && Object.keys(e.xattrs).length ? sortKeys(e.xattrs) : null,
  ]);
  const c = manifest.config;
  const chunks = encodeChunks(manifest.chunks);
  const doc = {
    v: MANIFEST_VERSION,
    config: { env: c.env, entrypoint: c.entrypoint, cmd: c.cmd, workingDir: c.workingDir, user: c.user },
    entries: tuples,
  };
  // One entry per line keeps the decompressed form readable for humans and diff tools.
  const json = '{"v":' + doc.v + ',"config":' + JSON.stringify(doc.config) + ',"entries":[\n'
    + tuples.map((t) => JSON.stringify(t)).join(',\n') + '\n]' + chunks + '}\n';
  // Fixed level and no name/mtime in the gzip header: same manifest, same bytes, same id.
  return gzipSync(Buffer.from(json, 'utf8'), { level: 9 });
}

/**
 * A stored manifest's entries, validated, as columns: element i of every array is entry i,
 * in path order. decodeManifest makes entry objects from it; a worker lays its native tree
 * out from it directly (tableToColumns in worker/fuse/image-columns.ts) and looks paths up
 * in it, without making any. For the 34,000-entry python/scipy image, a fresh worker's
 * first load (decode, columns, chunk lists, index) takes ~85 ms instead of ~115 of the
 * main thread, which a cold start shares with its prefetch.
 */
export interface ManifestTable extends EntryNumbers {
  config: ImageConfig;
  /** Entry paths, sorted (compareManifestPaths); the root '' first. */
  paths: string[];
  /** Content hash of a file or hard link, else ''. */
  hashes: string[];
  /** A symlink's target or a hard link's path, else ''. */
  targets: string[];
  xattrs: (Record<string, string> | null)[];
  chunks?: ChunkHashes;
  /** Size of each content that has a chunk list. */
  chunkedSizes: Map<string, number>;
}

/**
 * The numbers of a manifest's entries, one element per entry: a ManifestTable's, and (copied,
 * the standard directories added) the native tree's columns (worker/fuse/native.ts).
 */
export interface EntryNumbers {
  /** ENTRY_KINDS index: 0 dir, 1 file, 2 symlink, 3 hard link. */
  kinds: Uint8Array;
  modes: Uint32Array;
  uids: Uint32Array;
  gids: Uint32Array;
  mtimes: Float64Array;
  /** The manifest's size (a table's: every entry's; the tree takes files' only, else 0). */
  sizes: Float64Array;
  /** Index of the entry's parent directory; -1 for the root. */
  parents: Int32Array;
  /** A hard link's file, by index; else -1. */
  linkTo: Int32Array;
}

/** Entry types by ManifestTable kind. */
export const ENTRY_KINDS: readonly EntryType[] = ['dir', 'file', 'symlink', 'hardlink'];
const KIND_OF: Record<string, number> = { d: 0, f: 1, l: 2, h: 3 };
const DIR = 0, FILE = 1, SYMLINK = 2, HARDLINK = 3;
const MAX_ID = 0xffffffff;

/** Decode and validate a stored manifest blob. Throws ImageFormatError on anything off. */
export function decodeManifest(blob: Buffer): Manifest {
  const t = readManifestTable(blob);
  const entries = new Array<ManifestEntry>(t.paths.length);
  for (let i = 0; i < entries.length; i++) entries[i] = tableEntry(t, i);
  return { version: MANIFEST_VERSION, config: t.config, entries, ...(t.chunks ? { chunks: t.chunks } : {}) };
}

/** Entry i of a table as an entry object. */
export function tableEntry(t: ManifestTable, i: number): ManifestEntry {
  const kind = t.kinds[i]!;
  const e: ManifestEntry = { path: t.paths[i]!, type: ENTRY_KINDS[kind]!, mode: t.modes[i]!, uid: t.uids[i]!, gid: t.gids[i]!, mtime: t.mtimes[i]!, size: t.sizes[i]! };
  if (kind === FILE || kind === HARDLINK) e.hash = t.hashes[i]!;
  if (kind === SYMLINK || kind === HARDLINK) e.target = t.targets[i]!;
  const xattrs = t.xattrs[i];
  if (xattrs) e.xattrs = xattrs;
  return e;
}

/** Bytes a manifest's JSON may have decompressed: ~190,000 entries (the python/scipy image's 34,000 take 5.8 MB). */
export const MAX_MANIFEST_JSON_BYTES = 32 * 1024 * 1024;
/** ...and at most this many times its gzip size (encodeManifest's are ~3.5; 1 GiB of zeros is ~1000). */
export const MAX_MANIFEST_GZIP_RATIO = 64;

/** The decompressed bound for a manifest blob of `gzipBytes`: a gzip bomb stops early, whatever its claim. */
export function manifestJsonLimit(gzipBytes: number): number {
  return Math.min(MAX_MANIFEST_JSON_BYTES, Math.max(1024 * 1024, gzipBytes * MAX_MANIFEST_GZIP_RATIO));
}

/**
 * Decode and validate a stored manifest blob into columns. Checks every field of every
 * entry against the bounds above, that paths are clean, unique and sorted, that every
 * parent is a directory, that hard links point at files, that entries sharing a content
 * hash agree on its size, and the chunk lists. Throws ImageFormatError on anything off.
 */
export function readManifestTable(blob: Buffer, maxJsonBytes = manifestJsonLimit(blob.length)): ManifestTable {
  let doc: { v?: unknown; config?: unknown; entries?: unknown; chunks?: unknown };
  try {
    doc = JSON.parse(gunzipSync(blob, { maxOutputLength: maxJsonBytes }).toString('utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ImageFormatError(`manifest decompresses to more than ${maxJsonBytes} bytes (a manifest's JSON may be at most ${MAX_MANIFEST_JSON_BYTES} bytes and ${MAX_MANIFEST_GZIP_RATIO} times its gzip size)`);
    throw new ImageFormatError(`manifest is not valid gzip-compressed JSON: ${(err as Error).message}`);
  }
  if (doc.v !== MANIFEST_VERSION) throw new ImageFormatError(`unsupported manifest version ${String(doc.v)}`);
  if (!Array.isArray(doc.entries)) throw new ImageFormatError('manifest has no entries array');
  const config = validateConfig(doc.config);
  const tuples = doc.entries as unknown[];
  const n = tuples.length;
  if (n > MAX_MANIFEST_ENTRIES) throw new ImageFormatError(`manifest has ${n} entries (at most ${MAX_MANIFEST_ENTRIES})`);
  const t: ManifestTable = {
    config, paths: new Array<string>(n), kinds: new Uint8Array(n), modes: new Uint32Array(n), uids: new Uint32Array(n), gids: new Uint32Array(n),
    mtimes: new Float64Array(n), sizes: new Float64Array(n), hashes: new Array<string>(n), targets: new Array<string>(n),
    xattrs: new Array<Record<string, string> | null>(n), parents: new Int32Array(n), linkTo: new Int32Array(n), chunkedSizes: new Map(),
  };
  // Only directories are indexed by path (a tenth of the entries): parents are looked up
  // there; the few hard links' files by binary search once all paths are in.
  const dirs = new Map<string, number>();
  let prev: string | undefined;
  for (let i = 0; i < n; i++) {
    const path = readTuple(tuples[i], i, t);
    const shape = pathShape(path);
    if (shape !== '') throw new ImageFormatError(`manifest path ${shown(path)} ${shape}`);
    if (prev !== undefined && compareManifestPaths(prev, path) >= 0) throw new ImageFormatError(`manifest paths are not sorted and unique at ${JSON.stringify(path)}`);
    prev = path;
    if (path === '') {
      if (t.kinds[i] !== DIR) throw new ImageFormatError('manifest root is not a directory');
      t.parents[i] = -1;
    } else {
      const parent = dirs.get(parentPath(path));
      if (parent === undefined) throw new ImageFormatError(`manifest entry ${JSON.stringify(path)} has no parent directory`);
      t.parents[i] = parent;
    }
    if (t.kinds[i] === DIR) dirs.set(path, i);
  }
  if (!dirs.has('')) throw new ImageFormatError('manifest has no root directory entry');
  t.linkTo.fill(-1);
  // One size per content: chunk lists, fetches and the native tree size a content from
  // whichever entry they meet first.
  const sizeOfHash = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const kind = t.kinds[i]!;
    if (kind !== FILE && kind !== HARDLINK) continue;
    const hash = t.hashes[i]!, size = t.sizes[i]!;
    const known = sizeOfHash.get(hash);
    if (known === undefined) sizeOfHash.set(hash, size);
    else if (known !== size) throw new ImageFormatError(`manifest entry ${shown(t.paths[i]!)} has size ${size}, another entry with its content hash ${hash} has ${known}`);
    if (kind !== HARDLINK) continue;
    const at = sortedIndexOf(t.paths, t.targets[i]!);
    if (at < 0 || t.kinds[at] !== FILE) throw new ImageFormatError(`hard link ${shown(t.paths[i]!)} does not point at a file in the image`);
    if (t.hashes[at] !== hash) throw new ImageFormatError(`hard link ${shown(t.paths[i]!)} has another content hash than its file`);
    t.linkTo[i] = at;
  }
  if (doc.chunks !== undefined) t.chunks = decodeChunks(doc.chunks, t);
  return t;
}

/** Checks tuple i and writes its fields into row i of `t`; returns its path. */
function readTuple(tuple: unknown, i: number, t: ManifestTable): string {
  if (!Array.isArray(tuple) || tuple.length !== 10) throw new ImageFormatError(`manifest entry ${i} is malformed`);
  // Indexed, not destructured: destructuring runs the iterator protocol per entry, which a
  // freshly started worker (code not yet optimised) pays for 30,000 times on a cold start.
  const path = tuple[0] as unknown, tc = tuple[1] as unknown, mode = tuple[2] as unknown, uid = tuple[3] as unknown, gid = tuple[4] as unknown;
  const mtime = tuple[5] as unknown, size = tuple[6] as unknown, hash = tuple[7] as unknown, target = tuple[8] as unknown, xattrs = tuple[9] as unknown;
  const kind = typeof tc === 'string' && Object.hasOwn(KIND_OF, tc) ? KIND_OF[tc]! : -1;
  if (typeof path !== 'string' || kind < 0) throw new ImageFormatError(`manifest entry ${i} has a bad path or type`);
  // Checked one by one, not in a loop over pairs: this runs for every entry of the image.
  if (!isCount(mode)) throw badNumber(path, 'mode');
  if (!isCount(uid) || uid > MAX_ID) throw badNumber(path, 'uid');
  if (!isCount(gid) || gid > MAX_ID) throw badNumber(path, 'gid');
  if (typeof mtime !== 'number' || !Number.isSafeInteger(mtime)) throw badNumber(path, 'mtime');
  if (!isCount(size) || size > MAX_FILE_SIZE) throw badNumber(path, 'size');
  if (mode > 0o7777) throw new ImageFormatError(`manifest entry ${JSON.stringify(path)} has a bad mode`);
  t.paths[i] = path; t.kinds[i] = kind; t.modes[i] = mode; t.uids[i] = uid; t.gids[i] = gid; t.mtimes[i] = mtime; t.sizes[i] = size;
  t.hashes[i] = '';
  t.targets[i] = '';
  t.xattrs[i] = null;
  if (kind === FILE || kind === HARDLINK) {
    if (!isHash(hash)) throw new ImageFormatError(`manifest entry ${JSON.stringify(path)} has no valid content hash`);
    if (kind === FILE && size === 0 && hash !== EMPTY_HASH) throw new ImageFormatError(`empty file ${JSON.stringify(path)} has a non-empty hash`);
    if (size !== 0 && hash === EMPTY_HASH) throw new ImageFormatError(`manifest entry ${shown(path)} has the empty content's hash but ${size} bytes`);
    t.hashes[i] = hash;
  }
  if (kind === SYMLINK || kind === HARDLINK) {
    if (typeof target !== 'string' || target.length === 0) throw new ImageFormatError(`manifest entry ${JSON.stringify(path)} has no link target`);
    // A hard link's target is looked up among the paths; a symlink's goes to the kernel as is.
    if (kind === SYMLINK) {
      const bytes = utf8Bytes(target);
      if (bytes < 0 || bytes > MAX_LINK_TARGET_BYTES) throw new ImageFormatError(`symlink ${shown(path)} has a target that is not well-formed text without NUL of at most ${MAX_LINK_TARGET_BYTES} bytes`);
    }
    t.targets[i] = target;
  }
  if (xattrs !== null && xattrs !== undefined) t.xattrs[i] = checkXattrs(xattrs, path);
  return path;
}

/**
 * Names of at most MAX_XATTR_NAME_BYTES without NUL, values base64 strings of at most
 * MAX_XATTR_VALUE_BYTES decoded: the worker decodes every value at load (a value that
 * is no string, such as {"length": 2e9}, would make Buffer.from allocate 2 GB).
 */
function checkXattrs(raw: unknown, path: string): Record<string, string> {
  const bad = (why: string) => new ImageFormatError(`manifest entry ${shown(path)} has bad xattrs: ${why}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('not an object');
  const xattrs = raw as Record<string, unknown>;
  let count = 0, listBytes = 0;
  for (const name in xattrs) {
    if (!Object.hasOwn(xattrs, name)) continue;
    if (++count > MAX_XATTRS) throw bad(`more than ${MAX_XATTRS}`);
    const nameBytes = utf8Bytes(name);
    if (nameBytes < 1 || nameBytes > MAX_XATTR_NAME_BYTES) throw bad(`name ${shown(name)} is not well-formed text without NUL of 1 to ${MAX_XATTR_NAME_BYTES} bytes`);
    listBytes += nameBytes + 1;
    if (listBytes > MAX_XATTR_LIST_BYTES) throw bad(`names longer than ${MAX_XATTR_LIST_BYTES} bytes together`);
    const value = xattrs[name];
    if (typeof value !== 'string' || value.length > MAX_XATTR_BASE64_CHARS || !isBase64(value)) {
      throw bad(`value of ${shown(name)} is not base64 of at most ${MAX_XATTR_VALUE_BYTES} bytes`);
    }
    if (value.length === MAX_XATTR_BASE64_CHARS && base64Bytes(value) > MAX_XATTR_VALUE_BYTES) throw bad(`value of ${shown(name)} is over ${MAX_XATTR_VALUE_BYTES} bytes`);
  }
  return xattrs as Record<string, string>;
}

const MAX_XATTR_BASE64_CHARS = Math.ceil(MAX_XATTR_VALUE_BYTES / 3) * 4;
// Canonical padded base64, as the exporters write it (Buffer's toString('base64')).
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isBase64(s: string): boolean {
  return BASE64.test(s);
}

function base64Bytes(s: string): number {
  return (s.length / 4) * 3 - (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0);
}

/** A path or name for a message: JSON, and cut short (a hostile one may be megabytes). */
function shown(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}

// ',"chunks":{"size":N,"blobs":{"<hash>":"<hex><hex>…",…}}' (keys sorted), or '' without any.
function encodeChunks(chunks: ChunkHashes | undefined): string {
  if (!chunks || Object.keys(chunks.byBlob).length === 0) return '';
  const blobs = Object.keys(chunks.byBlob).sort().map((h) => `${JSON.stringify(h)}:${JSON.stringify(chunks.byBlob[h]!.join(''))}`);
  return `,\n"chunks":{"size":${chunks.chunkSize},"blobs":{\n${blobs.join(',\n')}\n}}`;
}

/** Chunk lists must name a file content of the image and have exactly one hash per chunk. */
function decodeChunks(raw: unknown, t: ManifestTable): ChunkHashes {
  const bad = (why: string) => new ImageFormatError(`manifest chunk hashes: ${why}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('not an object');
  const { size, blobs } = raw as { size?: unknown; blobs?: unknown };
  if (typeof size !== 'number' || !Number.isInteger(size) || size < MIN_CHUNK_SIZE || size > MAX_CHUNK_SIZE || (size & (size - 1)) !== 0) {
    throw bad(`chunk size ${String(size)} is not a power of two between ${MIN_CHUNK_SIZE} and ${MAX_CHUNK_SIZE}`);
  }
  if (typeof blobs !== 'object' || blobs === null || Array.isArray(blobs)) throw bad('no blobs object');
  // The sizes of the listed contents only (a few), not a map of every file's: they are
  // also the table's chunkedSizes.
  const sizeOf = t.chunkedSizes;
  for (const hash of Object.keys(blobs)) sizeOf.set(hash, -1);
  for (let i = 0; i < t.paths.length; i++) if (t.kinds[i] === FILE && sizeOf.has(t.hashes[i]!)) sizeOf.set(t.hashes[i]!, t.sizes[i]!);
  const byBlob: Record<string, string[]> = {};
  for (const [hash, hex] of Object.entries(blobs as Record<string, unknown>)) {
    const fileSize = sizeOf.get(hash)!;
    if (fileSize < 0) throw bad(`${hash.slice(0, 80)} is no file content of this image`);
    const n = chunkCount(fileSize, size);
    if (n < 2) throw bad(`${hash} fits in one chunk`);
    if (typeof hex !== 'string' || hex.length !== n * 64 || !/^[0-9a-f]*$/.test(hex)) throw bad(`${hash} needs ${n} chunk hashes`);
    const list: string[] = [];
    for (let i = 0; i < n; i++) list.push(hex.slice(i * 64, (i + 1) * 64));
    byBlob[hash] = list;
  }
  return { chunkSize: size, byBlob };
}

export function manifestId(blob: Buffer): string {
  return sha256(blob);
}

/** The non-empty file contents of a decoded manifest (hashes). */
export function fileBlobsOf(t: ManifestTable): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < t.paths.length; i++) if (t.kinds[i] === FILE && t.sizes[i]! > 0) out.add(t.hashes[i]!);
  return out;
}

/** Every content hash the image needs (deduplicated). */
export function manifestBlobHashes(manifest: Manifest): string[] {
  const set = new Set<string>();
  for (const e of manifest.entries) if (e.type === 'file' && e.hash) set.add(e.hash);
  return [...set];
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function badNumber(path: string, name: string): ImageFormatError {
  return new ImageFormatError(`manifest entry ${JSON.stringify(path)} has a bad ${name}`);
}

function validateConfig(c: unknown): ImageConfig {
  if (typeof c !== 'object' || c === null) throw new ImageFormatError('manifest has no image config');
  const o = c as Record<string, unknown>;
  const strArray = (v: unknown, name: string): string[] | null => {
    if (v === null || v === undefined) return null;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new ImageFormatError(`image config ${name} is not a string array`);
    return v as string[];
  };
  return checkImageConfig({
    env: strArray(o.env, 'env') ?? [],
    entrypoint: strArray(o.entrypoint, 'entrypoint'),
    cmd: strArray(o.cmd, 'cmd'),
    workingDir: typeof o.workingDir === 'string' && o.workingDir ? o.workingDir : '/',
    user: typeof o.user === 'string' ? o.user : '',
  });
}

/**
 * An image config is safe to run: WorkingDir is an absolute path with no '..' component,
 * and no string holds a NUL (runc would cut it) or, in USER, a line break. Export checks it
 * before publishing and the worker again on every manifest it loads (a manifest can be
 * hand-made). Returns the config; throws ImageFormatError.
 */
export function checkImageConfig(c: ImageConfig): ImageConfig {
  const wd = c.workingDir;
  if (!wd.startsWith('/') || wd.length > MAX_PATH_BYTES || wd.includes('\0') || wd.split('/').includes('..')) {
    throw new ImageFormatError(`image WorkingDir ${JSON.stringify(wd.slice(0, 200))} must be an absolute path without '..'`);
  }
  if (c.user.length > 256 || /[\0\n]/.test(c.user)) throw new ImageFormatError(`image User ${JSON.stringify(c.user.slice(0, 200))} is not a user name or id`);
  for (const [name, list] of [['Env', c.env], ['Entrypoint', c.entrypoint], ['Cmd', c.cmd]] as const) {
    if (list?.some((v) => v.includes('\0'))) throw new ImageFormatError(`image ${name} holds a NUL byte`);
  }
  return c;
}


/** Index of `path` in paths sorted by compareManifestPaths (binary search), or -1. */
export function sortedIndexOf(paths: { readonly length: number; [i: number]: string }, path: string): number {
  let lo = 0;
  let hi = paths.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareManifestPaths(paths[mid]!, path);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * Why an entry path is not one the native tree and the kernel can take, or '': clean
 * (isCleanRelativePath), well-formed UTF-16 (so it has one UTF-8 form), components of at
 * most MAX_NAME_BYTES and the whole of at most MAX_PATH_BYTES in UTF-8. One pass.
 */
function pathShape(p: string): string {
  if (p === '') return '';
  let start = 0, startBytes = 0, bytes = 0;
  for (let i = 0; i <= p.length; i++) {
    const c = i < p.length ? p.charCodeAt(i) : SLASH;
    if (c === 0) return 'has a NUL';
    if (c >= 0xd800 && c <= 0xdfff) {
      // A surrogate pair is one 4-byte character; a lone surrogate has no UTF-8 form.
      if (c > 0xdbff || i + 1 >= p.length) return 'is not well-formed text';
      const low = p.charCodeAt(i + 1);
      if (low < 0xdc00 || low > 0xdfff) return 'is not well-formed text';
      bytes += 4;
      i++;
      continue;
    }
    if (c !== SLASH) { bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3; continue; }
    const len = i - start;
    if (len === 0) return 'is not a clean relative path';
    if (p.charCodeAt(start) === DOT && (len === 1 || (len === 2 && p.charCodeAt(start + 1) === DOT))) return 'is not a clean relative path';
    if (bytes - startBytes > MAX_NAME_BYTES) return `has a name over ${MAX_NAME_BYTES} bytes`;
    bytes++;
    start = i + 1;
    startBytes = bytes;
  }
  return bytes - 1 > MAX_PATH_BYTES ? `is over ${MAX_PATH_BYTES} bytes` : '';
}

/** UTF-8 bytes of well-formed text without NUL, else -1. */
function utf8Bytes(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return -1;
    if (c < 0x80) bytes++;
    else if (c < 0x800) bytes += 2;
    else if (c < 0xd800 || c > 0xdfff) bytes += 3;
    else {
      const low = c <= 0xdbff && i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (low < 0xdc00 || low > 0xdfff) return -1;
      bytes += 4;
      i++;
    }
  }
  return bytes;
}

/** '' or 'a/b/c' with no empty, '.' or '..' components and no NUL. */
export function isCleanRelativePath(p: string): boolean {
  if (p === '') return true;
  // One pass over the characters (a worker checks every path of a 30,000-entry manifest).
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    const c = i < p.length ? p.charCodeAt(i) : SLASH;
    if (c === 0) return false;
    if (c !== SLASH) continue;
    const len = i - start;
    if (len === 0) return false;
    if (p.charCodeAt(start) === DOT && (len === 1 || (len === 2 && p.charCodeAt(start + 1) === DOT))) return false;
    start = i + 1;
  }
  return true;
}

const SLASH = 0x2f;
const DOT = 0x2e;

export function parentPath(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]!]));
}
