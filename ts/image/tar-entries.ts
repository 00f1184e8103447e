// Reading one tar stream entry by entry with tar-stream, as sway needs it: every header
// normalised into a `TarEntry` (path cleaned, PAX mtime/uid/gid/xattrs applied), hostile
// headers refused with ImageFormatError (paths with `..`, negative or absurd sizes,
// types sway does not understand such as GNU sparse files), and a truncated stream
// reported as ImageFormatError instead of tar-stream's bare Error.
//
// Path policy (as GNU tar extracts): a leading '/' and './' components are stripped,
// repeated slashes collapse, a trailing '/' is dropped; any '..' component refuses the
// whole archive (GNU tar would skip the member; skipping silently would change the image).
//
// Bounds (ts/image/archive-limits.ts), when the caller passes an ArchiveBudget: every
// entry counts against the archive's entry limit, paths against length/depth limits,
// symlink targets against PATH_MAX, a claimed size against the layer limit; breaking
// one is an ArchiveLimitError, which passes through every wrapper here unchanged.
//
// Deliberately does not: decompress (callers hand it tar bytes), apply layer semantics
// (whiteouts, links: ts/image/layers.ts) or keep contents (each entry's body is a stream
// the caller must consume or drain before the next entry arrives).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { ImageFormatError } from '../common/errors.js';
import { ArchiveLimitError, type ArchiveBudget } from './archive-limits.js';

/** Largest single file sway accepts from an archive; anything bigger is a hostile header. */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024 * 1024;

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'device' | 'fifo';

export interface TarEntry {
  /** Clean relative path ('' is the root). */
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  /** Symlink target verbatim; for a hard link, the clean path it links to. */
  linkname?: string;
  /** xattr name → value as base64. */
  xattrs?: Record<string, string>;
}

// tar-stream decodes PAX values as UTF-8, which destroys binary xattr values such as
// security.capability. Its decoder is looked up on the module object at each call, so
// wrap it once: xattr records are decoded byte-for-byte as latin1 (turned back into
// bytes below); every other record (paths, times) stays UTF-8.
const XATTR_PREFIXES = ['SCHILY.xattr.', 'LIBARCHIVE.xattr.'];

/** tar-stream's header codec, with the patches below: what tar-headers.ts decodes with. */
export const tarHeaderCodec = (() => {
  const require = createRequire(import.meta.url);
  return require(join(dirname(require.resolve('tar-stream')), 'headers.js')) as {
    decodePax: (b: Buffer) => Record<string, string>;
    decode: (b: Buffer, filenameEncoding: string, allowUnknownFormat: boolean) => tar.Header | null;
    decodeLongPath: (b: Buffer, encoding: string) => string;
    __swayPatched?: boolean;
  };
})();
{
  const headers = tarHeaderCodec;
  if (!headers.__swayPatched) {
    // tar-stream reads a base-256 size of -1 (0xff...ff) as -0, i.e. an empty file, and
    // only refuses sizes below -1: refuse every negative base-256 size where it is read.
    const decode = headers.decode;
    headers.decode = (buf, filenameEncoding, allowUnknownFormat) => {
      if (buf.length >= 512 && buf[124] === 0xff) throw new ImageFormatError('a tar header has an invalid (negative) size (base-256)');
      return decode(buf, filenameEncoding, allowUnknownFormat);
    };
    headers.decodePax = (buf: Buffer) => {
      const result: Record<string, string> = {};
      while (buf.length) {
        let i = 0;
        while (i < buf.length && buf[i] !== 32) i++;
        const len = parseInt(buf.subarray(0, i).toString('latin1'), 10);
        if (!len || len > buf.length || len <= i + 1) throw new ImageFormatError('malformed PAX header record');
        const record = buf.subarray(i + 1, len - 1);
        const eq = record.indexOf(0x3d);
        if (eq === -1) throw new ImageFormatError('malformed PAX header record');
        const key = record.subarray(0, eq).toString('utf8');
        const raw = XATTR_PREFIXES.some((p) => key.startsWith(p));
        result[key] = record.subarray(eq + 1).toString(raw ? 'latin1' : 'utf8');
        buf = buf.subarray(len);
      }
      return result;
    };
    headers.__swayPatched = true;
  }
}

/** Clean a tar member name (see the header comment); refuses `..` and NUL. */
export function cleanTarPath(name: string, what = 'entry'): string {
  if (name.includes('\0')) throw new ImageFormatError(`archive ${what} has a NUL byte in its name`);
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new ImageFormatError(`archive ${what} ${JSON.stringify(name)} escapes the root ("..")`);
    parts.push(c);
  }
  return parts.join('/');
}

/** A bad input (malformed or over a limit): reported as is, never re-wrapped. */
export function isArchiveInputError(err: unknown): err is ImageFormatError | ArchiveLimitError {
  return err instanceof ImageFormatError || err instanceof ArchiveLimitError;
}

function toInt(v: unknown, what: string, path: string): number {
  // PAX times may carry a fraction ("1700000000.5"); anything else must be a plain integer
  // the manifest can hold (a safe integer), or the fileserver would refuse the manifest
  // after the upload.
  if (typeof v === 'string' && !/^\s*-?\d+(\.\d+)?\s*$/.test(v)) throw new ImageFormatError(`archive entry ${JSON.stringify(path)} has a bad ${what}`);
  const n = typeof v === 'string' ? Math.floor(Number(v)) : (v as number);
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new ImageFormatError(`archive entry ${JSON.stringify(path)} has a bad ${what}`);
  return n;
}

/** One decoded header as a TarEntry, or an ImageFormatError (see the header comment). */
export function normaliseHeader(header: tar.Header, budget?: ArchiveBudget): TarEntry {
  const rawName = header.name ?? '';
  const path = cleanTarPath(rawName);
  budget?.checkPath(path, rawName, 'archive entry');
  const pax = (header.pax ?? {}) as Record<string, string>;
  // PAX-format sparse files (GNU.sparse.*, formats 0.x and 1.0) look like plain files whose
  // data is a sparse map: taking them literally would publish the map as the file.
  if (Object.keys(pax).some((k) => k.startsWith('GNU.sparse.'))) {
    throw new ImageFormatError(`archive entry ${JSON.stringify(rawName)} is a GNU sparse file (PAX GNU.sparse.*), which is not supported`);
  }
  let type: TarEntryType;
  switch (header.type) {
    case 'file': case 'contiguous-file': type = 'file'; break;
    case 'directory': type = 'dir'; break;
    case 'symlink': type = 'symlink'; break;
    case 'link': type = 'hardlink'; break;
    case 'character-device': case 'block-device': type = 'device'; break;
    case 'fifo': type = 'fifo'; break;
    default:
      throw new ImageFormatError(`archive entry ${JSON.stringify(rawName)} has an unsupported tar type (${String(header.type)}; GNU sparse files are not supported)`);
  }
  const size = Number(header.size ?? 0);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_ENTRY_BYTES) throw new ImageFormatError(`archive entry ${JSON.stringify(rawName)} claims an absurd size (${size} bytes)`);
  budget?.checkEntrySize(size, rawName);
  const mtime = pax.mtime !== undefined ? toInt(pax.mtime, 'PAX mtime', rawName) : toInt(Math.floor((header.mtime?.getTime() ?? 0) / 1000), 'mtime', rawName);
  const uid = pax.uid !== undefined ? toInt(pax.uid, 'PAX uid', rawName) : (header.uid ?? 0);
  const gid = pax.gid !== undefined ? toInt(pax.gid, 'PAX gid', rawName) : (header.gid ?? 0);
  if (uid < 0 || gid < 0 || uid > 0xffffffff || gid > 0xffffffff) throw new ImageFormatError(`archive entry ${JSON.stringify(rawName)} has a bad uid/gid`);
  const mode = (header.mode ?? 0) & 0o7777;
  const entry: TarEntry = { path, type, mode, uid, gid, mtime, size: type === 'file' ? size : 0 };
  if (type === 'symlink') {
    if (!header.linkname) throw new ImageFormatError(`symlink ${JSON.stringify(rawName)} has no target`);
    if (header.linkname.includes('\0')) throw new ImageFormatError(`symlink ${JSON.stringify(rawName)} has a NUL byte in its target`);
    budget?.checkLinkTarget(header.linkname, rawName);
    entry.linkname = header.linkname;
  } else if (type === 'hardlink') {
    if (!header.linkname) throw new ImageFormatError(`hard link ${JSON.stringify(rawName)} has no target`);
    entry.linkname = cleanTarPath(header.linkname, 'hard link target');
    budget?.checkPath(entry.linkname, header.linkname, 'hard link target');
  }
  let xattrs: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(pax)) {
    const prefix = XATTR_PREFIXES.find((p) => k.startsWith(p));
    if (!prefix) continue;
    const name = k.slice(prefix.length);
    const value = Buffer.from(v, 'latin1');
    budget?.checkXattr(name, value.length, rawName);
    (xattrs ??= {})[name] = value.toString('base64');
  }
  if (xattrs) entry.xattrs = xattrs;
  if (budget) {
    let bytes = Buffer.byteLength(path) + (entry.linkname ? Buffer.byteLength(entry.linkname) : 0);
    for (const [k, v] of Object.entries(xattrs ?? {})) bytes += Buffer.byteLength(k) + v.length;
    budget.addMetadata(bytes, rawName);
  }
  return entry;
}

/**
 * Iterate over the entries of a tar stream. For each entry, `body` must be fully
 * consumed (or `drain`ed) before asking for the next. Errors, including truncation,
 * come out as ImageFormatError.
 */
export async function* readTarEntries(source: Readable, what = 'archive', budget?: ArchiveBudget): AsyncGenerator<{ entry: TarEntry; body: Readable }> {
  const extract = tar.extract();
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const item of extract) {
      const body = item as unknown as Readable & { header: tar.Header };
      let entry: TarEntry;
      try {
        budget?.addEntry(what);
        entry = normaliseHeader(body.header, budget);
      } catch (err) {
        body.resume();
        throw err;
      }
      yield { entry, body };
      // A caller that did not read the body: skip it so the next header can be parsed.
      body.resume();
    }
  } catch (err) {
    if (isArchiveInputError(err)) throw err;
    throw new ImageFormatError(`${what} is not a valid tar stream: ${describeTarError(err)}`);
  } finally {
    source.unpipe(extract as unknown as NodeJS.WritableStream);
    extract.destroy();
  }
}

/**
 * An error met while consuming an entry's body: a body cut short by a truncated archive
 * surfaces as a bare stream error, which is the archive's fault, so it becomes an
 * ImageFormatError; local failures (disk full) pass through unchanged.
 */
export function asFormatError(err: unknown, what: string): unknown {
  if (isArchiveInputError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (/destroyed|end of data|premature|unexpected end|invalid|incorrect header|zlib/i.test(msg) || (err as { code?: string })?.code?.startsWith?.('Z_')) {
    return new ImageFormatError(`${what} is truncated or corrupt: ${describeTarError(err)}`);
  }
  return err;
}

function describeTarError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Unexpected end of data/i.test(msg)) return 'truncated (unexpected end of data)';
  if (/^Invalid header$/.test(msg)) return 'a header has an invalid (negative) size';
  if (/unexpected end of file/i.test(msg)) return 'truncated compressed data (unexpected end of file)';
  return msg;
}
