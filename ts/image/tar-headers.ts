// Tar headers parsed from bytes handed over piece by piece, for a reader that gets each
// file's body from somewhere else: podman's store keeps a layer as its headers (the
// tar-split file) plus a directory of the files, so store-layer.ts hands the header
// bytes here and reads the bodies itself. The state machine is tar-stream's extract
// (zero blocks skipped; GNU long names, PAX and global PAX records applied to the next
// header; padding skipped after every record), decoding with tar-stream's own codec as
// tar-entries.ts patches it, so both readers see the same headers.
//
// Deliberately does not: normalise or judge headers (tar-entries.ts normaliseHeader),
// read or hash bodies (the caller), or keep more than one header's bytes.
import type tar from 'tar-stream';
import { ImageFormatError } from '../common/errors.js';
import { isArchiveInputError, tarHeaderCodec } from './tar-entries.js';

const BLOCK = 512;
/** tar-stream's limit on a long-name or PAX record's size. */
const MAX_LONG_HEADER = 4 * 1024 * 1024;
const LONG_HEADERS = new Set(['gnu-long-path', 'gnu-long-link-path', 'pax-global-header', 'pax-header']);

/** Bytes of padding after a record of `size` bytes. */
function tarPadding(size: number): number {
  const rest = size % BLOCK;
  return rest && BLOCK - rest;
}

export class TarHeaderScanner {
  private pending: Buffer = Buffer.alloc(0);
  private skip = 0;
  private longHeader: tar.Header | null = null;
  private pax: Record<string, string> | null = null;
  private paxGlobal: Record<string, string> | null = null;
  private gnuLongPath: string | null = null;
  private gnuLongLinkPath: string | null = null;
  /** Bytes of the last header's body, which the caller reads itself (then bodyDone()); 0 when none. */
  bodyMissing = 0;

  constructor(private readonly what: string) {}

  /** Header-side bytes (headers, long records, padding); returns the headers they complete, in order. */
  push(bytes: Buffer): tar.Header[] {
    const out: tar.Header[] = [];
    const buf = this.pending.length ? Buffer.concat([this.pending, bytes]) : bytes;
    let at = 0;
    while (at < buf.length) {
      if (this.bodyMissing > 0) throw this.layoutError(`header bytes where ${this.bodyMissing} bytes of a file body belong`);
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length - at);
        at += n; this.skip -= n;
        continue;
      }
      if (this.longHeader) {
        const size = this.longHeader.size!;
        if (buf.length - at < size) break;
        this.applyLongRecord(this.longHeader.type, buf.subarray(at, at + size));
        at += size;
        this.skip = tarPadding(size);
        this.longHeader = null;
        continue;
      }
      if (buf.length - at < BLOCK) break;
      const header = this.decode(buf.subarray(at, at + BLOCK));
      at += BLOCK;
      if (!header) continue; // a zero block (the end of the archive, or its padding)
      if (LONG_HEADERS.has(header.type!)) {
        if (header.size! > MAX_LONG_HEADER) throw new ImageFormatError(`${this.what} is not a valid tar stream: Header exceeds max size`);
        this.longHeader = header;
        continue;
      }
      this.applyLongHeaders(header);
      if (!(header.size! >= 0)) throw new ImageFormatError(`${this.what} is not a valid tar stream: a header has an invalid (negative) size`);
      // As tar-stream: a directory's size is not a body.
      if (header.size! > 0 && header.type !== 'directory') this.bodyMissing = header.size!;
      out.push(header);
    }
    // Keep only the unparsed tail (part of one header or long record): never a whole segment.
    this.pending = at < buf.length ? Buffer.from(buf.subarray(at)) : Buffer.alloc(0);
    return out;
  }

  /** The body the last header announced has been read elsewhere: skip its padding next. */
  bodyDone(): void {
    this.skip = tarPadding(this.bodyMissing);
    this.bodyMissing = 0;
  }

  /** At the end of the input: nothing may be left half read (tar-stream's "Unexpected end of data"). */
  end(): void {
    if (this.bodyMissing > 0 || this.longHeader || this.skip > 0 || this.pending.length > 0) {
      throw new ImageFormatError(`${this.what} is truncated or corrupt: truncated (unexpected end of data)`);
    }
  }

  layoutError(detail: string): ImageFormatError {
    return new ImageFormatError(`${this.what}: its tar-split file does not describe a tar (${detail})`);
  }

  private decode(block: Buffer): tar.Header | null {
    try {
      return tarHeaderCodec.decode(block, 'utf-8', false);
    } catch (err) {
      if (isArchiveInputError(err)) throw err;
      throw new ImageFormatError(`${this.what} is not a valid tar stream: ${(err as Error).message}`);
    }
  }

  private applyLongRecord(type: string | undefined, data: Buffer): void {
    switch (type) {
      case 'gnu-long-path': this.gnuLongPath = tarHeaderCodec.decodeLongPath(data, 'utf-8'); break;
      case 'gnu-long-link-path': this.gnuLongLinkPath = tarHeaderCodec.decodeLongPath(data, 'utf-8'); break;
      case 'pax-global-header': this.paxGlobal = tarHeaderCodec.decodePax(data); break;
      case 'pax-header': this.pax = this.paxGlobal === null ? tarHeaderCodec.decodePax(data) : { ...this.paxGlobal, ...tarHeaderCodec.decodePax(data) }; break;
    }
  }

  private applyLongHeaders(header: tar.Header): void {
    if (this.gnuLongPath) { header.name = this.gnuLongPath; this.gnuLongPath = null; }
    if (this.gnuLongLinkPath) { header.linkname = this.gnuLongLinkPath; this.gnuLongLinkPath = null; }
    if (this.pax) {
      if (this.pax.path) header.name = this.pax.path;
      if (this.pax.linkpath) header.linkname = this.pax.linkpath;
      if (this.pax.size) header.size = parseInt(this.pax.size, 10);
      header.pax = this.pax;
      this.pax = null;
    }
  }
}
